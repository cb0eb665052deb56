import type { TibaConfig } from '../config.js';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { getLocalValueSet } from '../fhir/validation/value-sets.js';
import { ensureDatabase, migrate, type Pool } from '../infra/postgres.js';
import { seedTwilioChannels } from '../messaging/seed-channels.js';
import { seedUssdChannel } from '../messaging/ussd/seed-ussd-channel.js';
import { createRepositoryFactory } from '../repository/factory.js';
import { PostgresRepository } from '../repository/repository.js';
import { ensureDefaultAdmin, type SetupLog } from './default-admin.js';
import { loadProfiles, seedBaseDefinitions } from './seed-definitions.js';

/**
 * Everything the server needs before it serves: the database and its schema, the R4
 * definitions (in memory and as resources), the profiles, the default admin and the messaging
 * channels TWILIO_* and USSD_* name.
 */
export async function prepareDatabase(config: Readonly<TibaConfig>, pool: Pool, log: SetupLog): Promise<void> {
  await ensureDatabase(config.databaseUrl);
  await migrate(config.databaseUrl);
  loadFhirDefinitions();
  // Loads the R4 terminology (~0.2 s) now rather than on the first write.
  getLocalValueSet('http://hl7.org/fhir/ValueSet/administrative-gender');
  // The specification is stored as it is published, without re-validating it.
  const definitionsRepo = new PostgresRepository({
    pool,
    baseUrl: config.baseUrl,
    maxAccurateTotal: config.maxAccurateTotal,
    validate: () => undefined,
  });
  const seeded = await seedBaseDefinitions(definitionsRepo);
  if (seeded) {
    log.info({ count: seeded }, 'Stored the R4 StructureDefinitions and SearchParameters');
  }
  const systemRepo = createRepositoryFactory(config, pool).system('first-start setup');
  if (config.profilesDir) {
    const urls = await loadProfiles(systemRepo, config.profilesDir);
    log.info({ profiles: urls }, 'Loaded profiles');
  }
  const project = await ensureDefaultAdmin(systemRepo, config, log);
  await seedTwilioChannels(systemRepo, project, config.twilio, log);
  await seedUssdChannel(systemRepo, project, config.ussd, config.baseUrl, log);
}
