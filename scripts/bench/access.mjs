// Cost of access control: the same reads and searches of Observations by the project admin
// (policy `*`: only the project filter applies) and by a patient signed in with a password
// (policy `compartment: %patient`: every row is checked against the patient's compartment, in
// SQL for searches). Both go through the whole sign-in path the web app uses.
import { createHash, randomBytes } from 'node:crypto';
import { cycling } from './load.mjs';

const OBSERVATIONS = 50;
const CODE_SYSTEM = 'http://loinc.org';
const CODE = '29463-7'; // body weight

async function call(origin, path, { token, body, form, method = 'POST' } = {}) {
  const headers = {};
  if (token) {
    headers.authorization = `Bearer ${token}`;
  }
  let payload;
  if (form) {
    headers['content-type'] = 'application/x-www-form-urlencoded';
    payload = new URLSearchParams(form);
  } else if (body) {
    headers['content-type'] = 'application/fhir+json';
    payload = JSON.stringify(body);
  }
  const res = await fetch(new URL(path, origin), {
    method,
    headers,
    body: payload,
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  if (res.status >= 300) {
    throw new Error(`${method} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  }
  return JSON.parse(text);
}

/**
 * Invites a patient (admin API), gives them OBSERVATIONS weights, and signs them in as the web
 * app does (auth/login with a PKCE S256 challenge, then oauth2/token). Returns the patient's
 * token and the requests of each phase.
 */
export async function setupPatientMember(origin, adminToken, runTag) {
  const project = (await call(origin, '/fhir/R4/Project', { token: adminToken, method: 'GET' })).entry[0].resource.id;
  const email = `patient-${runTag}@bench.example`;
  const password = randomBytes(12).toString('hex');
  const membership = await call(origin, `/admin/projects/${project}/invite`, {
    token: adminToken,
    body: { resourceType: 'Patient', firstName: 'Bench', lastName: runTag, email, password },
  });
  const patient = membership.profile.reference;
  const observations = [];
  for (let i = 0; i < OBSERVATIONS; i++) {
    const obs = await call(origin, '/fhir/R4/Observation', {
      token: adminToken,
      body: {
        resourceType: 'Observation',
        status: 'final',
        code: { coding: [{ system: CODE_SYSTEM, code: CODE }] },
        subject: { reference: patient },
        effectiveDateTime: new Date(Date.now() - i * 86_400_000).toISOString(),
        valueQuantity: { value: 60 + i / 10, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg' },
      },
    });
    observations.push(obs.id);
  }
  const verifier = randomBytes(32).toString('base64url');
  const challenge = createHash('sha256').update(verifier).digest('base64url');
  const login = await call(origin, '/auth/login', {
    body: { email, password, scope: 'openid', codeChallenge: challenge, codeChallengeMethod: 'S256' },
  });
  const token = await call(origin, '/oauth2/token', {
    form: { grant_type: 'authorization_code', code: login.code, code_verifier: verifier },
  });
  const reads = cycling(observations, (id) => `/fhir/R4/Observation/${id}`);
  const searches = [{ method: 'GET', path: `/fhir/R4/Observation?code=${CODE_SYSTEM}|${CODE}&_count=10` }];
  return { token: token.access_token, patient, reads, searches };
}

export const ACCESS_COMPARED = [
  ['obsRead', 'Read Observation by id'],
  ['obsSearch', 'Search Observation by code (page of 10)'],
];

const int = (n) => Math.round(n).toLocaleString('en-US');
const cpuMs = (cores, rate) => (cores === undefined || !rate ? 'n/a' : `${((cores / rate) * 1000).toFixed(2)}`);

/** `admin` and `patient` are phase results by key (ACCESS_COMPARED). */
export function accessCostMarkdown(admin, patient) {
  const rows = ACCESS_COMPARED.filter(([key]) => admin[key] && patient[key]).map(([key, label]) => {
    const a = admin[key];
    const p = patient[key];
    return `| ${label} | ${int(a.rate)}/s | ${int(p.rate)}/s | ${(((p.rate - a.rate) / a.rate) * 100).toFixed(1)} % | ${a.p99} / ${p.p99} ms | ${cpuMs(a.cpu?.server, a.rate)} / ${cpuMs(p.cpu?.server, p.rate)} | ${cpuMs(a.cpu?.postgres, a.rate)} / ${cpuMs(p.cpu?.postgres, p.rate)} |`;
  });
  if (rows.length === 0) {
    return '';
  }
  return [
    'Cost of access control: the same Observations read and searched by the project admin (policy `*`: the project filter only) and by their patient signed in with a password (shipped patient role: `compartment: %patient`, checked per row, in SQL for the search). Both audited. CPU in ms per operation:',
    '',
    '| Operation | admin | patient | change | p99 admin / patient | server CPU admin / patient | PostgreSQL CPU admin / patient |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
