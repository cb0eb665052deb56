import { Operator, type WithId } from '@medplum/core';
import type { Endpoint, Project, ProjectSetting } from '@medplum/fhirtypes';
import type { TwilioSettings } from '../config.js';
import type { PostgresRepository } from '../repository/repository.js';
import type { SetupLog } from '../setup/default-admin.js';
import { CHANNEL_NUMBER_SYSTEM, channelEndpoint, DEFAULT_SECRET_NAMES } from './channels.js';
import { type MessagingAddress, parseTwilioAddress } from './phone.js';

/**
 * TWILIO_* seed the default project at every start: the credentials become Project.secret
 * entries and each number an active channel Endpoint. Running it again changes nothing; an
 * Endpoint edited by an admin keeps its edits (only a missing one is created).
 */
export async function seedTwilioChannels(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  twilio: Readonly<TwilioSettings>,
  log: SetupLog
): Promise<void> {
  const numbers = [
    { env: 'TWILIO_FROM', value: twilio.from, name: 'SMS (Twilio)' },
    { env: 'TWILIO_WHATSAPP_FROM', value: twilio.whatsappFrom, name: 'WhatsApp (Twilio)' },
  ];
  const channels: { address: MessagingAddress; name: string }[] = [];
  for (const { env, value, name } of numbers) {
    if (!value) {
      continue;
    }
    const address = parseTwilioAddress(value);
    if (!address) {
      throw new Error(`${env} must be an E.164 number like +15005550006, got "${value}"`);
    }
    // TWILIO_WHATSAPP_FROM may be written with or without its `whatsapp:` prefix.
    channels.push({ address: env === 'TWILIO_WHATSAPP_FROM' ? { ...address, medium: 'whatsapp' } : address, name });
  }
  if (channels.length === 0) {
    return;
  }
  if (!twilio.authToken) {
    log.warn({}, 'TWILIO_FROM or TWILIO_WHATSAPP_FROM is set without TWILIO_AUTH_TOKEN: inbound webhooks get 403');
  }
  await storeSecrets(systemRepo, project, {
    [DEFAULT_SECRET_NAMES.accountSid]: twilio.accountSid,
    [DEFAULT_SECRET_NAMES.authToken]: twilio.authToken,
  });
  const repo = systemRepo.inProject(project.id);
  for (const { address, name } of channels) {
    const identifier = `${CHANNEL_NUMBER_SYSTEM[address.medium]}|${address.phone}`;
    // Conditional: a worker process preparing the database at the same time creates no second one.
    const { resource } = await repo.conditionalCreate<Endpoint>(channelEndpoint(address, name), {
      resourceType: 'Endpoint',
      filters: [{ code: 'identifier', operator: Operator.EQUALS, value: identifier }],
    });
    log.info({ endpoint: resource.id, medium: address.medium, number: address.phone }, 'Messaging channel ready');
  }
}

/** Sets the named Project.secret entries (unset values are left as they are). */
export async function storeSecrets(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  values: Record<string, string | undefined>
): Promise<void> {
  const current = await systemRepo.readResource<Project>('Project', project.id);
  const secret: ProjectSetting[] = [...(current.secret ?? [])];
  let changed = false;
  for (const [name, value] of Object.entries(values)) {
    if (value === undefined) {
      continue;
    }
    const index = secret.findIndex((s) => s.name === name);
    if (index >= 0 && secret[index].valueString === value) {
      continue;
    }
    changed = true;
    if (index >= 0) {
      secret[index] = { name, valueString: value };
    } else {
      secret.push({ name, valueString: value });
    }
  }
  if (changed) {
    await systemRepo.updateResource<Project>({ ...current, secret });
  }
}
