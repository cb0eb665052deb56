/**
 * `npm run rotate-keys` (packages/server): token signing key rotation.
 *
 *   rotate-keys                       add a new signing key; retire keys replaced more than
 *                                     SIGNING_KEY_RETIRE_AFTER seconds ago (or --retire-after)
 *   rotate-keys --list                list the keys
 *   rotate-keys --retire <kid>        retire one key now (a leaked key); its tokens stop verifying
 *
 * Servers pick the change up within SIGNING_KEY_RELOAD_SECONDS. Reads DATABASE_URL like the server.
 */
import { parseArgs } from 'node:util';
import { listSigningKeys, retireSigningKey, rotateSigningKeys } from '../auth/keys.js';
import { loadConfig } from '../config.js';
import { createPool } from '../infra/postgres.js';

const { values } = parseArgs({
  options: {
    list: { type: 'boolean', default: false },
    retire: { type: 'string' },
    'retire-after': { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  console.log('Usage: rotate-keys [--retire-after <seconds>] | --list | --retire <kid>');
  process.exit(0);
}

const config = loadConfig();
const pool = createPool(config.databaseUrl, 1);
try {
  if (values.list) {
    console.table(await listSigningKeys(pool));
  } else if (values.retire) {
    const retired = await retireSigningKey(pool, values.retire);
    console.log(retired ? `Retired ${values.retire}` : `No active key ${values.retire}`);
    process.exitCode = retired ? 0 : 1;
  } else {
    const retireAfter =
      values['retire-after'] === undefined ? config.signingKeyRetireAfterSeconds : Number(values['retire-after']);
    if (!Number.isInteger(retireAfter) || retireAfter < 0) {
      throw new Error('--retire-after must be a non-negative number of seconds');
    }
    const { kid, retired } = await rotateSigningKeys(pool, { retireAfterSeconds: retireAfter });
    console.log(`New signing key ${kid}; servers use it within ${config.signingKeyReloadSeconds} s`);
    if (retired.length > 0) {
      console.log(`Retired ${retired.join(', ')}`);
    }
  }
} catch (err) {
  console.error(`rotate-keys failed: ${(err as Error).message}`);
  process.exitCode = 1;
} finally {
  await pool.end();
}
