import { createHash, timingSafeEqual } from 'node:crypto';
import { Operator, type WithId } from '@medplum/core';
import type { Bot, Endpoint, Project, Reference } from '@medplum/fhirtypes';
import type { PostgresRepository } from '../../repository/repository.js';
import { CHANNEL_TYPE_SYSTEM, findActiveChannelEndpoint } from '../channels.js';

/**
 * A project's USSD channel is an `Endpoint` like its Twilio numbers (channels.ts): connectionType
 * `africastalking-ussd` in the same code system, the service code as identifier (requests are
 * routed by it), an extension naming the Project.secret entry that holds the callback key, and
 * one naming the Bot that owns the menu. See docs/messaging.md, USSD.
 */
export const USSD_CHANNEL_TYPE_CODE = 'africastalking-ussd';
export const USSD_SERVICE_CODE_SYSTEM = 'https://tiba.health/fhir/sid/ussd-service-code';
/** valueString: the Project.secret entry whose value the callback URL's `key` must equal. */
export const USSD_CALLBACK_KEY_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/ussd-callback-key';
/** valueReference: the Bot whose handler draws the screens (`Bot/<id>`, or an identifier in https://tiba.health/bots). */
export const USSD_MENU_BOT_EXTENSION = 'https://tiba.health/fhir/StructureDefinition/ussd-menu-bot';
export const BOT_IDENTIFIER_SYSTEM = 'https://tiba.health/bots';
export const DEFAULT_CALLBACK_KEY_SECRET = 'USSD_CALLBACK_SECRET';

export interface UssdChannel {
  endpoint: WithId<Endpoint>;
  projectId: string;
  serviceCode: string;
}

/** The Endpoint of a USSD channel (new, or to compare with a stored one). */
export function ussdChannelEndpoint(serviceCode: string, menuBot: Reference<Bot>, keySecretName: string): Endpoint {
  return {
    resourceType: 'Endpoint',
    status: 'active',
    name: `USSD ${serviceCode} (Africa's Talking)`,
    connectionType: { system: CHANNEL_TYPE_SYSTEM, code: USSD_CHANNEL_TYPE_CODE },
    payloadType: [{ text: 'USSD menu screens' }],
    address: `ussd:${serviceCode}`,
    identifier: [{ system: USSD_SERVICE_CODE_SYSTEM, value: serviceCode }],
    extension: [
      { url: USSD_CALLBACK_KEY_EXTENSION, valueString: keySecretName },
      { url: USSD_MENU_BOT_EXTENSION, valueReference: menuBot },
    ],
  };
}

/** `Bot/<id>` as a reference; anything else as the bot's identifier (its folder name under bots/src). */
export function menuBotReference(bot: string): Reference<Bot> {
  return /^Bot\/[A-Za-z0-9\-.]{1,64}$/.test(bot)
    ? { reference: bot }
    : { identifier: { system: BOT_IDENTIFIER_SYSTEM, value: bot } };
}

/**
 * The active USSD channel of a service code. Undefined when no project has it, 'ambiguous' when
 * more than one does (a service code is leased to one account: a configuration error, and no
 * session should be filed under a guess).
 */
export async function findUssdChannel(
  systemRepo: PostgresRepository,
  serviceCode: string
): Promise<UssdChannel | 'ambiguous' | undefined> {
  const found = await findActiveChannelEndpoint(systemRepo, USSD_SERVICE_CODE_SYSTEM, serviceCode);
  if (found === 'ambiguous' || !found) {
    return found;
  }
  return found.endpoint.connectionType?.code === USSD_CHANNEL_TYPE_CODE ? { ...found, serviceCode } : undefined;
}

/** The channel's callback key, from the Project.secret entry its Endpoint names; undefined when not set. */
export async function callbackKeyOf(systemRepo: PostgresRepository, channel: UssdChannel): Promise<string | undefined> {
  const name =
    channel.endpoint.extension?.find((e) => e.url === USSD_CALLBACK_KEY_EXTENSION)?.valueString ??
    DEFAULT_CALLBACK_KEY_SECRET;
  const project = await systemRepo.readResource<Project>('Project', channel.projectId);
  return project.secret?.find((s) => s.name === name)?.valueString || undefined;
}

/** True when `given` equals the key (constant time); false when there is no key. */
export function keyMatches(given: string, expected: string | undefined): boolean {
  if (!expected) {
    return false;
  }
  // Digests have one length, so the comparison takes the same time whatever was sent.
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(given), digest(expected));
}

/** True when `given` equals the channel's callback key (constant time); false when the key is not set. */
export async function checkCallbackKey(
  systemRepo: PostgresRepository,
  channel: UssdChannel,
  given: string
): Promise<boolean> {
  return keyMatches(given, await callbackKeyOf(systemRepo, channel));
}

/** The channel's menu Bot, in the channel's own project only; undefined when it names none or it is gone. */
export async function findMenuBot(
  systemRepo: PostgresRepository,
  channel: UssdChannel
): Promise<WithId<Bot> | undefined> {
  const ref = channel.endpoint.extension?.find((e) => e.url === USSD_MENU_BOT_EXTENSION)?.valueReference;
  let bot: WithId<Bot> | undefined;
  if (ref?.reference?.startsWith('Bot/')) {
    bot = await systemRepo.readResource<Bot>('Bot', ref.reference.slice('Bot/'.length)).catch(() => undefined);
  } else if (ref?.identifier?.value) {
    const { system, value } = ref.identifier;
    const found = await systemRepo.inProject(channel.projectId).searchResources<Bot>({
      resourceType: 'Bot',
      filters: [{ code: 'identifier', operator: Operator.EQUALS, value: system ? `${system}|${value}` : value }],
      count: 5,
    });
    bot = found.find((b) => b.meta?.project === channel.projectId);
  }
  return bot?.meta?.project === channel.projectId ? bot : undefined;
}
