import { Operator, type WithId } from '@medplum/core';
import type { Endpoint, Project } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../repository/repository.js';
import type { MessagingAddress, MessagingMedium } from './phone.js';

/**
 * A project's messaging channel is an `Endpoint` of that project (editable like any resource):
 * `connectionType` says which kind, `identifier` holds the number (routing searches it), and an
 * extension names the `Project.secret` entries that hold the credentials, which never sit in
 * the resource. See docs/messaging.md.
 */
export const CHANNEL_TYPE_SYSTEM = 'https://tiba.health/fhir/CodeSystem/messaging-channel';
export const CHANNEL_NUMBER_SYSTEM: Record<MessagingMedium, string> = {
  sms: 'https://tiba.health/fhir/sid/twilio-sms-number',
  whatsapp: 'https://tiba.health/fhir/sid/twilio-whatsapp-sender',
};
export const CHANNEL_TYPE_CODE: Record<MessagingMedium, string> = { sms: 'twilio-sms', whatsapp: 'twilio-whatsapp' };
/** Complex extension: `accountSid` and `authToken`, each a valueString naming a Project.secret entry. */
export const CREDENTIALS_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/messaging-credentials';
/** valueReference on a message or a consent decision: the channel Endpoint it came in or went out on. */
export const CHANNEL_REFERENCE_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/messaging-channel';
/** valueString: what HELP/INFO answers on this channel. */
export const HELP_TEXT_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/messaging-help-text';

export const DEFAULT_SECRET_NAMES = { accountSid: 'TWILIO_ACCOUNT_SID', authToken: 'TWILIO_AUTH_TOKEN' } as const;

export interface Channel {
  endpoint: WithId<Endpoint>;
  projectId: string;
  medium: MessagingMedium;
  /** E.164 number of the channel. */
  phone: string;
  helpText?: string;
}

export interface TwilioCredentials {
  accountSid?: string;
  authToken: string;
}

/** The Endpoint of a channel (new or to compare with a stored one). */
export function channelEndpoint(address: MessagingAddress, name: string): Endpoint {
  return {
    resourceType: 'Endpoint',
    status: 'active',
    name,
    connectionType: { system: CHANNEL_TYPE_SYSTEM, code: CHANNEL_TYPE_CODE[address.medium] },
    payloadType: [{ text: 'Text messages' }],
    address: address.medium === 'whatsapp' ? `whatsapp:${address.phone}` : `tel:${address.phone}`,
    identifier: [{ system: CHANNEL_NUMBER_SYSTEM[address.medium], value: address.phone }],
    extension: [
      {
        url: CREDENTIALS_EXTENSION,
        extension: [
          { url: 'accountSid', valueString: DEFAULT_SECRET_NAMES.accountSid },
          { url: 'authToken', valueString: DEFAULT_SECRET_NAMES.authToken },
        ],
      },
    ],
  };
}

/**
 * The one active channel Endpoint with this identifier, and its project. 'ambiguous' when more
 * than one has it: a number or service code belongs to one account, so that is a configuration
 * error and nobody's messages should be filed under a guess.
 */
export async function findActiveChannelEndpoint(
  systemRepo: PostgresRepository,
  system: string,
  value: string
): Promise<{ endpoint: WithId<Endpoint>; projectId: string } | 'ambiguous' | undefined> {
  const found = await systemRepo.searchResources<Endpoint>({
    resourceType: 'Endpoint',
    filters: [
      { code: 'identifier', operator: Operator.EQUALS, value: `${system}|${value}` },
      { code: 'status', operator: Operator.EQUALS, value: 'active' },
    ],
    count: 2,
  });
  if (found.length > 1) {
    return 'ambiguous';
  }
  const endpoint = found[0];
  const projectId = endpoint?.meta?.project;
  return endpoint && projectId ? { endpoint, projectId } : undefined;
}

/** The active channel a message to `to` belongs to (see findActiveChannelEndpoint). */
export async function findChannel(
  systemRepo: PostgresRepository,
  to: MessagingAddress
): Promise<Channel | 'ambiguous' | undefined> {
  const found = await findActiveChannelEndpoint(systemRepo, CHANNEL_NUMBER_SYSTEM[to.medium], to.phone);
  if (found === 'ambiguous' || !found) {
    return found;
  }
  const helpText = found.endpoint.extension?.find((e) => e.url === HELP_TEXT_EXTENSION)?.valueString;
  return { ...found, medium: to.medium, phone: to.phone, helpText };
}

/** The channel's credentials from its project's secrets; undefined when the auth token is missing. */
export async function readCredentials(
  systemRepo: PostgresRepository,
  channel: Channel
): Promise<TwilioCredentials | undefined> {
  const names = channel.endpoint.extension?.find((e) => e.url === CREDENTIALS_EXTENSION)?.extension ?? [];
  const nameOf = (key: keyof typeof DEFAULT_SECRET_NAMES) =>
    names.find((e) => e.url === key)?.valueString ?? DEFAULT_SECRET_NAMES[key];
  const project = await systemRepo.readResource<Project>('Project', channel.projectId);
  const secret = (name: string) => project.secret?.find((s) => s.name === name)?.valueString;
  const authToken = secret(nameOf('authToken'));
  return authToken ? { accountSid: secret(nameOf('accountSid')), authToken } : undefined;
}
