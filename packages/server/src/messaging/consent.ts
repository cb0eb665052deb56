import { Operator, type WithId } from '@medplum/core';
import type { Communication, Consent, Patient, Reference } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';
import { CHANNEL_REFERENCE_EXTENSION, type Channel } from './channels.js';

/**
 * Messaging consent, one `Consent` per project and phone number, updated at each decision (its
 * history is the record of STOPs and STARTs). THE rule every sender obeys: nothing is sent to a
 * number whose latest decision is deny, except the one confirmation of that STOP. The single
 * sending place asks `latestDecision` right before it sends. See docs/messaging.md.
 */
export const CONSENT_NUMBER_SYSTEM = 'https://tiba.health/fhir/sid/messaging-consent-number';
/** LOINC 89057-4, the category the issue asks for. */
export const CONSENT_CATEGORY = { system: 'http://loinc.org', code: '89057-4' };

export type Decision = 'permit' | 'deny';

export interface LatestDecision {
  decision: Decision;
  consent: WithId<Consent>;
}

/** The latest messaging decision about `phone` (E.164) in the project; undefined when none was made. */
export async function latestDecision(
  repo: PostgresRepository,
  projectId: string,
  phone: string
): Promise<LatestDecision | undefined> {
  const consent = await findConsent(repo, projectId, phone);
  const decision = consent?.status === 'active' ? consent.provision?.type : undefined;
  return consent && decision ? { decision, consent } : undefined;
}

export interface DecisionInput {
  channel: Channel;
  phone: string;
  patient?: Reference<Patient>;
  decision: Decision;
  /** The message that asked for it. */
  message: WithId<Communication>;
}

/**
 * Records a decision unless it is already the latest one. Returns whether it changed: only a
 * change is confirmed to the patient. Run it in the transaction that stores the message, so two
 * STOPs at once cannot both see "not yet denied".
 */
export async function recordDecision(txRepo: PostgresRepository, input: DecisionInput): Promise<boolean> {
  const { channel, phone, decision } = input;
  const current = await findConsent(txRepo, channel.projectId, phone);
  if (current?.status === 'active' && current.provision?.type === decision) {
    return false;
  }
  const consent = consentFor(input, current?.patient);
  const repo = txRepo.inProject(channel.projectId);
  if (current) {
    await repo.updateResource<Consent>({ ...consent, id: current.id });
  } else {
    await repo.createResource<Consent>(consent);
  }
  return true;
}

function consentFor(input: DecisionInput, knownPatient: Reference<Patient> | undefined): Consent {
  const { channel, phone, decision, message } = input;
  const patient = input.patient ?? knownPatient;
  const organization = channel.endpoint.managingOrganization;
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [CONSENT_CATEGORY] }],
    identifier: [{ system: CONSENT_NUMBER_SYSTEM, value: phone }],
    ...(patient ? { patient } : undefined),
    dateTime: new Date().toISOString(),
    ...(organization ? { organization: [organization] } : undefined),
    policyRule: {
      coding: [
        { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: decision === 'deny' ? 'OPTOUT' : 'OPTIN' },
      ],
    },
    provision: {
      type: decision,
      // The inbound message that carried the keyword.
      data: [{ meaning: 'related', reference: { reference: `Communication/${message.id}` } }],
    },
    extension: [{ url: CHANNEL_REFERENCE_EXTENSION, valueReference: { reference: `Endpoint/${channel.endpoint.id}` } }],
  };
}

async function findConsent(
  repo: PostgresRepository,
  projectId: string,
  phone: string
): Promise<WithId<Consent> | undefined> {
  const found = await repo.searchResources<Consent>({
    resourceType: 'Consent',
    filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${CONSENT_NUMBER_SYSTEM}|${phone}` }],
    count: 100,
  });
  // The server's repository sees every project: keep this project's, the most recent first.
  return found
    .filter((c) => c.meta?.project === projectId)
    .sort((a, b) => (b.meta?.lastUpdated ?? '').localeCompare(a.meta?.lastUpdated ?? ''))[0];
}
