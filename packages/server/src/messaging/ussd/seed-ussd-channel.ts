import { randomBytes } from 'node:crypto';
import { Operator, type WithId } from '@medplum/core';
import type { Endpoint, Project } from '@medplum/fhirtypes';
import type { UssdSettings } from '../../config.js';
import type { PostgresRepository } from '../../repository/repository.js';
import type { SetupLog } from '../../setup/default-admin.js';
import { storeSecrets } from '../seed-channels.js';
import {
  DEFAULT_CALLBACK_KEY_SECRET,
  menuBotReference,
  USSD_SERVICE_CODE_SYSTEM,
  ussdChannelEndpoint,
} from './ussd-channel.js';

export const USSD_CALLBACK_PATH = 'messaging/ussd/africastalking';

/**
 * USSD_SERVICE_CODE seeds the default project's USSD channel at every start, like TWILIO_* (see
 * seed-channels.ts): the callback key becomes the Project.secret entry USSD_CALLBACK_SECRET
 * (generated once and logged when the variable is unset), the channel an active Endpoint naming
 * USSD_BOT as its menu. An Endpoint edited by an admin keeps its edits (only a missing one is made).
 */
export async function seedUssdChannel(
  systemRepo: PostgresRepository,
  project: WithId<Project>,
  ussd: Readonly<UssdSettings>,
  baseUrl: string,
  log: SetupLog
): Promise<void> {
  const { serviceCode } = ussd;
  if (!serviceCode) {
    return;
  }
  if (!/^[*#\d]{2,40}$/.test(serviceCode)) {
    throw new Error(`USSD_SERVICE_CODE must be a service code like *384*123#, got "${serviceCode}"`);
  }
  const current = await systemRepo.readResource<Project>('Project', project.id);
  const stored = current.secret?.find((s) => s.name === DEFAULT_CALLBACK_KEY_SECRET)?.valueString;
  const generated = !ussd.callbackSecret && !stored ? randomBytes(24).toString('base64url') : undefined;
  await storeSecrets(systemRepo, current, { [DEFAULT_CALLBACK_KEY_SECRET]: ussd.callbackSecret ?? generated });
  const repo = systemRepo.inProject(project.id);
  // Conditional: a worker process preparing the database at the same time creates no second one.
  const { resource } = await repo.conditionalCreate<Endpoint>(
    ussdChannelEndpoint(serviceCode, menuBotReference(ussd.bot), DEFAULT_CALLBACK_KEY_SECRET),
    {
      resourceType: 'Endpoint',
      filters: [{ code: 'identifier', operator: Operator.EQUALS, value: `${USSD_SERVICE_CODE_SYSTEM}|${serviceCode}` }],
    }
  );
  const callbackUrl = `${baseUrl}${USSD_CALLBACK_PATH}?key=${generated ?? '<USSD_CALLBACK_SECRET>'}`;
  log.info({ endpoint: resource.id, serviceCode, bot: ussd.bot, callbackUrl }, 'USSD channel ready');
}
