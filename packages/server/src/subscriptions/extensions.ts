import type { Subscription } from '@medplum/fhirtypes';

/** Medplum's Subscription extensions (https://www.medplum.com/docs/subscriptions/subscription-extensions). */
export const SUPPORTED_INTERACTION_URL =
  'https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction';
export const FHIRPATH_CRITERIA_URL = 'https://medplum.com/fhir/StructureDefinition/fhir-path-criteria-expression';
export const MAX_ATTEMPTS_URL = 'https://medplum.com/fhir/StructureDefinition/subscription-max-attempts';
/** The URL Medplum's server reads the signing secret from (and the one Tiba writes). */
export const SECRET_URL = 'https://www.medplum.com/fhir/StructureDefinition/subscription-secret';
/** Also accepted: the spelling without `www.`, and Medplum's first URL. */
const SECRET_URL_ALIASES = [
  SECRET_URL,
  'https://medplum.com/fhir/StructureDefinition/subscription-secret',
  'https://www.medplum.com/fhir/StructureDefinition-subscriptionSecret',
];
/** Medplum's limit on subscription-max-attempts. */
export const MAX_ATTEMPTS_LIMIT = 18;

export function subscriptionSecret(subscription: Subscription): string | undefined {
  for (const ext of subscription.extension ?? []) {
    if (SECRET_URL_ALIASES.includes(ext.url) && typeof ext.valueString === 'string' && ext.valueString) {
      return ext.valueString;
    }
  }
  return undefined;
}

/** The Subscription's subscription-max-attempts, else the server's default; within 1..18. */
export function subscriptionMaxAttempts(subscription: Subscription, fallback: number): number {
  const value = subscription.extension?.find((ext) => ext.url === MAX_ATTEMPTS_URL)?.valueInteger;
  const attempts = Number.isInteger(value) ? (value as number) : fallback;
  return Math.min(Math.max(attempts, 1), MAX_ATTEMPTS_LIMIT);
}

export function usesFhirPathCriteria(subscription: Subscription): boolean {
  return Boolean(subscription.extension?.some((ext) => ext.url === FHIRPATH_CRITERIA_URL && ext.valueString));
}
