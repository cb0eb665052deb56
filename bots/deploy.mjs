// `npm run deploy:bots`: builds the bots, signs in with the admin client's credentials and, for
// each bot, creates or updates its Bot, deploys its code (`POST Bot/:id/$deploy`) and creates,
// updates or removes its Subscriptions so they match bot.json. Safe to run again: it finds what
// it made earlier by identifier and tags, and changes only what differs.
//
// Environment: BASE_URL (default http://localhost:8103/), ADMIN_CLIENT_ID, ADMIN_CLIENT_SECRET.
// `--no-build` deploys bots/dist as it is (npm start has just built it).
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MedplumClient } from '@medplum/core';
import { buildBots, DIST_DIR, listBots } from './build.mjs';

/** Bot.identifier system; the value is the bot's folder name. */
export const BOT_IDENTIFIER_SYSTEM = 'https://tiba.health/bots';
/** Tag on a bot's Subscriptions: code = the bot's name. */
export const BOT_TAG_SYSTEM = 'https://tiba.health/bots';
/** Tag on a bot's Subscriptions: code = the subscription's key in bot.json. */
export const SUBSCRIPTION_KEY_TAG_SYSTEM = 'https://tiba.health/bots/subscription-key';
export const SUPPORTED_INTERACTION_URL =
  'https://medplum.com/fhir/StructureDefinition/subscription-supported-interaction';
export const FHIRPATH_CRITERIA_URL = 'https://medplum.com/fhir/StructureDefinition/fhir-path-criteria-expression';
/** Extensions deploy writes; others (e.g. the signing secret the server adds) are kept. */
const MANAGED_EXTENSIONS = [SUPPORTED_INTERACTION_URL, FHIRPATH_CRITERIA_URL];

/**
 * @typedef {import('@medplum/fhirtypes').Bot} Bot
 * @typedef {import('@medplum/fhirtypes').Subscription} Subscription
 * @typedef {import('@medplum/fhirtypes').Extension} Extension
 * @typedef {import('@medplum/fhirtypes').Coding} Coding
 * @typedef {import('./build.mjs').BotSource} BotSource
 * @typedef {import('./build.mjs').BotSubscriptionMetadata} BotSubscriptionMetadata
 * @typedef {'created' | 'updated' | 'unchanged' | 'deleted'} Change
 * @typedef {{ key: string, id: string, change: Change }} SubscriptionResult
 * @typedef {{ name: string, bot: string, botChange: Change, codeDeployed: boolean, subscriptions: SubscriptionResult[] }} DeployResult
 */

/**
 * Deploys every bot in `bots` (default: all under src/) with their built code from `distDir`.
 * @param {MedplumClient} medplum Signed in as a project admin.
 * @param {{ bots?: BotSource[], distDir?: string, log?: (line: string) => void }} [options]
 * @returns {Promise<DeployResult[]>}
 */
export async function deployBots(medplum, { bots = listBots(), distDir = DIST_DIR, log = () => {} } = {}) {
  const results = [];
  for (const source of bots) {
    const code = readBuiltCode(distDir, source.name);
    const { bot, change: botChange } = await upsertBot(medplum, source);
    const codeDeployed = await deployCode(medplum, bot, source.name, code);
    const subscriptions = await syncSubscriptions(medplum, bot, source);
    const result = { name: source.name, bot: `Bot/${bot.id}`, botChange, codeDeployed, subscriptions };
    log(describe(result));
    results.push(result);
  }
  return results;
}

/**
 * @param {string} distDir
 * @param {string} name
 */
function readBuiltCode(distDir, name) {
  const file = path.join(distDir, `${name}.js`);
  try {
    return readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${file} is missing: build the bots first (npm run build -w @tiba/bots)`);
  }
}

/**
 * Finds the Bot by identifier (created by an earlier deploy), creating or updating it.
 * @param {MedplumClient} medplum
 * @param {BotSource} source
 * @returns {Promise<{ bot: Bot & { id: string }, change: Change }>}
 */
async function upsertBot(medplum, { name, metadata }) {
  const identifier = `${BOT_IDENTIFIER_SYSTEM}|${name}`;
  const existing = await medplum.searchOne('Bot', { identifier }, { cache: 'no-cache' });
  /** @type {Bot} */
  const wanted = {
    ...existing,
    resourceType: 'Bot',
    identifier: [
      ...(existing?.identifier ?? []).filter((id) => id.system !== BOT_IDENTIFIER_SYSTEM),
      { system: BOT_IDENTIFIER_SYSTEM, value: name },
    ],
    name,
    description: metadata.description,
    timeout: metadata.timeout,
  };
  if (!metadata.description) {
    delete wanted.description;
  }
  if (!metadata.timeout) {
    delete wanted.timeout;
  }
  if (!existing) {
    // If-None-Exist: two deploys racing still make one Bot.
    const bot = await medplum.createResourceIfNoneExist(wanted, `identifier=${encodeURIComponent(identifier)}`);
    return { bot, change: 'created' };
  }
  if (sameContent(existing, wanted)) {
    return { bot: existing, change: 'unchanged' };
  }
  return { bot: await medplum.updateResource({ ...wanted, id: existing.id }), change: 'updated' };
}

/**
 * `POST Bot/:id/$deploy`, unless this exact code is deployed already: the filename carries the
 * code's hash and the server keeps it as `executableCode.title`.
 * @param {MedplumClient} medplum
 * @param {Bot & { id: string }} bot
 * @param {string} name
 * @param {string} code
 */
async function deployCode(medplum, bot, name, code) {
  const hash = createHash('sha256').update(code).digest('hex').slice(0, 12);
  const filename = `${name}.${hash}.js`;
  if (bot.executableCode?.title === filename) {
    return false;
  }
  await medplum.post(medplum.fhirUrl('Bot', bot.id, '$deploy'), { code, filename });
  return true;
}

/**
 * Makes the bot's Subscriptions (found by tag) match bot.json: creates the missing, updates the
 * changed, deletes those no longer listed.
 * @param {MedplumClient} medplum
 * @param {Bot & { id: string }} bot
 * @param {BotSource} source
 * @returns {Promise<SubscriptionResult[]>}
 */
async function syncSubscriptions(medplum, bot, { name, metadata }) {
  const existing = await medplum.searchResources(
    'Subscription',
    { _tag: `${BOT_TAG_SYSTEM}|${name}`, _count: '100' },
    { cache: 'no-cache' }
  );
  /** @type {SubscriptionResult[]} */
  const results = [];
  for (const spec of metadata.subscriptions ?? []) {
    const current = existing.find((subscription) => subscriptionKey(subscription) === spec.key);
    const wanted = subscriptionFor(bot, name, spec, current);
    if (!current) {
      const created = await medplum.createResource(wanted);
      results.push({ key: spec.key, id: created.id, change: 'created' });
    } else if (sameContent(current, wanted)) {
      results.push({ key: spec.key, id: current.id, change: 'unchanged' });
    } else {
      await medplum.updateResource({ ...wanted, id: current.id });
      results.push({ key: spec.key, id: current.id, change: 'updated' });
    }
  }
  const keys = new Set((metadata.subscriptions ?? []).map((spec) => spec.key));
  for (const stale of existing.filter((subscription) => !keys.has(subscriptionKey(subscription) ?? ''))) {
    await medplum.deleteResource('Subscription', stale.id);
    results.push({ key: subscriptionKey(stale) ?? '?', id: stale.id, change: 'deleted' });
  }
  return results;
}

/**
 * The Subscription bot.json asks for, keeping what the server or an admin added to `current`.
 * @param {Bot & { id: string }} bot
 * @param {string} name
 * @param {BotSubscriptionMetadata} spec
 * @param {Subscription | undefined} current
 * @returns {Subscription}
 */
export function subscriptionFor(bot, name, spec, current) {
  /** @type {Extension[]} */
  const managed = [];
  if (spec.interaction) {
    managed.push({ url: SUPPORTED_INTERACTION_URL, valueCode: spec.interaction });
  }
  if (spec.fhirPathCriteria) {
    managed.push({ url: FHIRPATH_CRITERIA_URL, valueString: spec.fhirPathCriteria });
  }
  // In the order they are stored (the server appends its signing secret), so an unchanged one compares equal.
  /** @type {Extension[]} */
  const extension = [];
  for (const ext of current?.extension ?? []) {
    if (!MANAGED_EXTENSIONS.includes(ext.url)) {
      extension.push(ext);
    } else if (managed.some((wanted) => wanted.url === ext.url) && !extension.some((e) => e.url === ext.url)) {
      extension.push(/** @type {Extension} */ (managed.find((wanted) => wanted.url === ext.url)));
    }
  }
  extension.push(...managed.filter((wanted) => !extension.some((e) => e.url === wanted.url)));
  /** @type {Coding[]} */
  const tag = [
    ...(current?.meta?.tag ?? []).filter(
      (coding) => coding.system !== BOT_TAG_SYSTEM && coding.system !== SUBSCRIPTION_KEY_TAG_SYSTEM
    ),
    { system: BOT_TAG_SYSTEM, code: name },
    { system: SUBSCRIPTION_KEY_TAG_SYSTEM, code: spec.key },
  ];
  /** @type {Subscription} */
  const subscription = {
    ...current,
    resourceType: 'Subscription',
    meta: { tag },
    // A redeploy re-activates a Subscription the server switched off after failures.
    status: 'active',
    reason: spec.reason ?? `Runs the ${name} bot`,
    criteria: spec.criteria,
    channel: {
      ...current?.channel,
      type: 'rest-hook',
      endpoint: `Bot/${bot.id}`,
      payload: 'application/fhir+json',
    },
  };
  delete subscription.error;
  if (extension.length > 0) {
    subscription.extension = extension;
  } else {
    delete subscription.extension;
  }
  return subscription;
}

/** @param {Subscription} subscription */
function subscriptionKey(subscription) {
  return subscription.meta?.tag?.find((coding) => coding.system === SUBSCRIPTION_KEY_TAG_SYSTEM)?.code;
}

/**
 * Equal apart from `meta` bookkeeping (versionId, lastUpdated, author…) other than tags.
 * @param {import('@medplum/fhirtypes').Resource} stored
 * @param {import('@medplum/fhirtypes').Resource} wanted
 */
function sameContent(stored, wanted) {
  const strip = (/** @type {any} */ resource) => {
    const { meta, id: _id, ...rest } = resource;
    return canonical({ ...rest, tag: meta?.tag ?? [] });
  };
  return strip(stored) === strip(wanted);
}

/** JSON with sorted object keys, for comparison. @param {unknown} value @returns {string} */
function canonical(value) {
  if (Array.isArray(value)) {
    return `[${value.map(canonical).join(',')}]`;
  }
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => a.localeCompare(b));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** @param {DeployResult} result */
function describe(result) {
  const subscriptions = result.subscriptions.map((s) => `Subscription/${s.id} (${s.key}) ${s.change}`).join(', ');
  return (
    `${result.name}: ${result.bot} ${result.botChange}, code ${result.codeDeployed ? 'deployed' : 'unchanged'}` +
    (subscriptions ? `; ${subscriptions}` : '')
  );
}

/**
 * A MedplumClient signed in with client credentials.
 * @param {{ baseUrl: string, clientId: string, clientSecret: string }} options
 */
export async function signIn({ baseUrl, clientId, clientSecret }) {
  const medplum = new MedplumClient({ baseUrl, clientId, fetch: globalThis.fetch.bind(globalThis) });
  await medplum.startClientLogin(clientId, clientSecret);
  return medplum;
}

async function main() {
  const baseUrl = process.env.BASE_URL || 'http://localhost:8103/';
  const clientId = process.env.ADMIN_CLIENT_ID;
  const clientSecret = process.env.ADMIN_CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    throw new Error(
      'set ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET (a project admin client: the server logs the one it ' +
        'generates at first start; `npm start` keeps its own in .data/admin-client.json)'
    );
  }
  const bots = listBots();
  if (!process.argv.includes('--no-build')) {
    await buildBots({ bots });
  }
  const medplum = await signIn({ baseUrl, clientId, clientSecret });
  await deployBots(medplum, { bots, log: (line) => console.log(`deploy:bots: ${line}`) });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`deploy:bots failed: ${err?.message ?? err}`);
    process.exit(1);
  });
}
