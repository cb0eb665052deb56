#!/usr/bin/env node
// `npm run seed`: loads optional demo data (seed/demo-clinic.json, a FHIR transaction Bundle) into
// a running Tiba server. It gets an access token with client_credentials, then POSTs the bundle to
// BASE_URL/fhir/R4. When the bundle's Organization (found by its identifier) is already on the
// server, the data is taken as loaded and nothing is sent, so running it twice is harmless.
//
//   ADMIN_CLIENT_ID=... ADMIN_CLIENT_SECRET=... npm run seed [-- path/to/bundle.json]
//
// BASE_URL defaults to http://localhost:8103/. The client id and secret are printed in the server
// log on its first start (or are the ADMIN_CLIENT_ID / ADMIN_CLIENT_SECRET it was started with).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function fail(message) {
  console.error(`seed: ${message}`);
  process.exit(1);
}

function settings(env = process.env) {
  const baseUrl = (env.BASE_URL || 'http://localhost:8103/').replace(/\/?$/, '/');
  const clientId = env.ADMIN_CLIENT_ID;
  const clientSecret = env.ADMIN_CLIENT_SECRET;
  if (!clientId || !clientSecret) {
    fail(
      'set ADMIN_CLIENT_ID and ADMIN_CLIENT_SECRET (the server prints them in its log on first start, ' +
        'or uses the values it was started with)'
    );
  }
  const bundleFile = path.resolve(process.argv[2] ?? path.join(ROOT, 'seed', 'demo-clinic.json'));
  return { baseUrl, clientId, clientSecret, bundleFile };
}

/** Sends a request; returns the parsed JSON body, or exits with the server's answer. */
async function request(url, init, what) {
  let res;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(60_000) });
  } catch (err) {
    fail(`${what}: cannot reach ${url} (${err.cause?.code ?? err.message}). Is the server running (npm start)?`);
  }
  const text = await res.text();
  if (!res.ok) {
    fail(`${what}: ${res.status} ${res.statusText}\n${text}`);
  }
  return text ? JSON.parse(text) : {};
}

async function getToken({ baseUrl, clientId, clientSecret }) {
  const body = new URLSearchParams({
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
  });
  const token = await request(
    new URL('oauth2/token', baseUrl),
    { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body },
    'token request'
  );
  if (!token.access_token) {
    fail('token request: the answer has no access_token');
  }
  return token.access_token;
}

/** "201 Created Patient/123" style lines for the transaction-response Bundle. */
function summarize(bundle, response) {
  return (response.entry ?? []).map((entry, i) => {
    const type = bundle.entry[i]?.resource?.resourceType ?? '?';
    const location = entry.response?.location?.replace(/\/_history\/.*$/, '') ?? '';
    return `  ${entry.response?.status ?? '?'}  ${type.padEnd(18)} ${location}`;
  });
}

/** True when the bundle's first Organization, searched by its first identifier, already exists. */
async function alreadyLoaded(bundle, fhirBase, headers) {
  const organization = bundle.entry?.find((e) => e.resource?.resourceType === 'Organization')?.resource;
  const identifier = organization?.identifier?.[0];
  if (!identifier) {
    return false;
  }
  const url = new URL('Organization', fhirBase);
  url.searchParams.set('identifier', `${identifier.system}|${identifier.value}`);
  url.searchParams.set('_count', '1');
  const found = await request(url, { headers }, 'search for the demo organization');
  return (found.entry ?? []).length > 0;
}

async function main() {
  const config = settings();
  const bundle = JSON.parse(readFileSync(config.bundleFile, 'utf8'));
  const fhirBase = new URL('fhir/R4/', config.baseUrl);
  const headers = { authorization: `Bearer ${await getToken(config)}`, accept: 'application/fhir+json' };
  if (await alreadyLoaded(bundle, fhirBase, headers)) {
    console.log(`seed: ${path.relative(ROOT, config.bundleFile)} is already loaded on ${fhirBase}; nothing to do`);
    return;
  }
  const response = await request(
    new URL('fhir/R4', config.baseUrl),
    {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/fhir+json' },
      body: JSON.stringify(bundle),
    },
    'transaction'
  );
  console.log(`seed: ${path.relative(ROOT, config.bundleFile)} -> ${new URL('fhir/R4', config.baseUrl)}`);
  console.log(summarize(bundle, response).join('\n'));
}

await main();
