// Bundles each bot (bots/src/<name>/index.ts or bots/src/<programme>/<bot>/index.ts, next to its
// bot.json) into one CommonJS file,
// bots/dist/<name>.js, the form `POST Bot/:id/$deploy` takes: `exports.handler = async (medplum, event) => …`.
// `node build.mjs` builds them all; deploy.mjs and the integration test import listBots/buildBots.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const BOTS_DIR = path.dirname(fileURLToPath(import.meta.url));
export const SRC_DIR = path.join(BOTS_DIR, 'src');
export const DIST_DIR = path.join(BOTS_DIR, 'dist');

const NAME_PATTERN = /^[a-z0-9]+(-[a-z0-9]+)*$/;
const INTERACTIONS = ['create', 'update', 'delete'];

/**
 * @typedef {object} BotSubscriptionMetadata
 * @property {string} key Stable within the bot: identifies the Subscription across deploys.
 * @property {string} criteria R4 search criteria, e.g. `Patient` or `Observation?code=http://loinc.org|1742-6`.
 * @property {'create' | 'update' | 'delete'} [interaction] Only this interaction triggers the bot.
 * @property {string} [fhirPathCriteria] FHIRPath test with %previous and %current.
 * @property {string} [reason]
 */

/**
 * @typedef {object} BotMetadata  The bot.json next to a bot's index.ts.
 * @property {string} name The folder name (`<programme>-<bot>` inside a programme folder); also the Bot's identifier value.
 * @property {string} [description]
 * @property {number} [timeout] Seconds a run may take (Bot.timeout); the server's default when absent.
 * @property {BotSubscriptionMetadata[]} [subscriptions]
 */

/**
 * @typedef {object} BotSource
 * @property {string} name
 * @property {string} dir
 * @property {string} entry The handler's source file.
 * @property {BotMetadata} metadata
 */

/**
 * Every bot under src/: a folder with index.ts and a valid bot.json, either directly under src/
 * (`src/<name>/`, named by its folder) or inside a programme folder (`src/<programme>/<bot>/`,
 * named `<programme>-<bot>`, so names stay unique and `dist/` flat). A folder without bot.json
 * is a programme folder (or shared code) and is searched one level down.
 */
export function listBots(srcDir = SRC_DIR) {
  /** @type {BotSource[]} */
  const bots = [];
  for (const entry of readdirSync(srcDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) {
      continue;
    }
    const dir = path.join(srcDir, entry.name);
    if (existsSync(path.join(dir, 'bot.json'))) {
      bots.push(readBotSource(dir, entry.name));
      continue;
    }
    for (const child of readdirSync(dir, { withFileTypes: true })) {
      const childDir = path.join(dir, child.name);
      if (child.isDirectory() && existsSync(path.join(childDir, 'bot.json'))) {
        bots.push(readBotSource(childDir, `${entry.name}-${child.name}`));
      }
    }
  }
  return bots.sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * @param {string} dir A bot's folder (holds bot.json).
 * @param {string} name The name bot.json must declare.
 * @returns {BotSource}
 */
function readBotSource(dir, name) {
  const entryFile = path.join(dir, 'index.ts');
  if (!existsSync(entryFile)) {
    throw new Error(`${path.relative(BOTS_DIR, dir)}: bot.json without index.ts`);
  }
  const metadata = readMetadata(path.join(dir, 'bot.json'), name);
  return { name, dir, entry: entryFile, metadata };
}

/**
 * Reads and checks a bot.json; throws with the file and the problem.
 * @param {string} file
 * @param {string} folderName The name it must declare: the folder's, or `<programme>-<bot>`.
 * @returns {BotMetadata}
 */
export function readMetadata(file, folderName) {
  const where = path.relative(BOTS_DIR, file);
  /** @type {any} */
  let metadata;
  try {
    metadata = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`${where}: ${/** @type {Error} */ (err).message}`);
  }
  const fail = (/** @type {string} */ problem) => {
    throw new Error(`${where}: ${problem}`);
  };
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    fail('must be a JSON object');
  }
  if (metadata.name !== folderName || !NAME_PATTERN.test(metadata.name)) {
    fail(`"name" must be the folder name (${folderName}) in lower-case-with-dashes`);
  }
  if (metadata.description !== undefined && typeof metadata.description !== 'string') {
    fail('"description" must be a string');
  }
  if (metadata.timeout !== undefined && !(Number.isInteger(metadata.timeout) && metadata.timeout > 0)) {
    fail('"timeout" must be a whole number of seconds');
  }
  const subscriptions = metadata.subscriptions ?? [];
  if (!Array.isArray(subscriptions)) {
    fail('"subscriptions" must be an array');
  }
  const keys = new Set();
  for (const [index, subscription] of subscriptions.entries()) {
    const at = `subscriptions[${index}]`;
    if (typeof subscription?.key !== 'string' || !NAME_PATTERN.test(subscription.key) || keys.has(subscription.key)) {
      fail(`${at}.key must be a unique lower-case-with-dashes name`);
    }
    keys.add(subscription.key);
    if (typeof subscription.criteria !== 'string' || !/^[A-Z][A-Za-z]+(\?.*)?$/.test(subscription.criteria)) {
      fail(`${at}.criteria must be search criteria such as "Patient" or "Observation?code=…"`);
    }
    if (subscription.interaction !== undefined && !INTERACTIONS.includes(subscription.interaction)) {
      fail(`${at}.interaction must be one of ${INTERACTIONS.join(', ')}`);
    }
    for (const field of ['fhirPathCriteria', 'reason']) {
      if (subscription[field] !== undefined && typeof subscription[field] !== 'string') {
        fail(`${at}.${field} must be a string`);
      }
    }
  }
  return { ...metadata, subscriptions };
}

/**
 * Bundles the bots into `outDir/<name>.js`. `@medplum/core` stays external: the runtime lets a
 * bot `require('@medplum/core')` (the server's copy, as Medplum's runtime does) and nothing else
 * outside Node's built-ins, so every other dependency is bundled in.
 * @param {{ bots?: BotSource[], outDir?: string }} [options]
 * @returns {Promise<{ name: string, file: string, bytes: number }[]>}
 */
export async function buildBots({ bots = listBots(), outDir = DIST_DIR } = {}) {
  const built = [];
  for (const bot of bots) {
    const file = path.join(outDir, `${bot.name}.js`);
    const result = await build({
      entryPoints: [bot.entry],
      outfile: file,
      bundle: true,
      format: 'cjs',
      platform: 'node',
      target: 'node24',
      external: ['@medplum/core'],
      logLevel: 'warning',
      metafile: true,
      // esbuild sets module.exports; runtimes that read the `exports` object see the handler too.
      footer: { js: 'Object.assign(exports, module.exports);' },
    });
    const bytes = Object.values(result.metafile.outputs)[0]?.bytes ?? 0;
    built.push({ name: bot.name, file, bytes });
  }
  return built;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const built = await buildBots();
  for (const { file, bytes } of built) {
    console.log(`${path.relative(process.cwd(), file)} ${(bytes / 1024).toFixed(1)} KB`);
  }
}
