import { Operator } from '@medplum/core';
import type { AuditEvent } from '@medplum/fhirtypes';
import { Registry } from 'prom-client';
import { afterAll, beforeAll, expect, inject, test } from 'vitest';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { validateFhirResource } from '../fhir/validation/validate-resource.js';
import { createLogger } from '../infra/logger.js';
import { createPool, type Pool } from '../infra/postgres.js';
import { PostgresRepository } from '../repository/repository.js';
import { createDatabase, dropDatabase, randomDatabaseName } from '../test/test-database.js';
import { restAuditEvent } from './audit-event.js';
import { type AuditLogOptions, createAuditLog } from './audit-log.js';

const PROJECT = '0b7e5f4c-5a52-4c8e-9d4f-2b8f1f9f3a10';
const BASE_URL = 'http://localhost:8103/';
const name = randomDatabaseName();
let databaseUrl: string;
let pool: Pool;
let repo: PostgresRepository;

beforeAll(async () => {
  loadFhirDefinitions();
  databaseUrl = await createDatabase(name, inject('templateDatabase'));
  pool = createPool(databaseUrl, 2);
  repo = new PostgresRepository({ pool, baseUrl: BASE_URL, maxAccurateTotal: 10_000, validate: validateFhirResource });
});
afterAll(async () => {
  await pool?.end();
  await dropDatabase(name);
});

function auditLog(options: Partial<AuditLogOptions> = {}) {
  return createAuditLog({
    databaseUrl,
    baseUrl: BASE_URL,
    enabled: true,
    logger: createLogger('silent', false),
    ...options,
  });
}

async function search(query: Record<string, string>): Promise<AuditEvent[]> {
  const bundle = await repo.search<AuditEvent>({
    resourceType: 'AuditEvent',
    filters: Object.entries(query).map(([code, value]) => ({ code, operator: Operator.EQUALS, value })),
    count: 1000,
  });
  return (bundle.entry ?? []).map((e) => e.resource as AuditEvent);
}

test('sign-ins are recorded (success and failure), searchable, and written on close', async () => {
  // A long interval: only close() can have written them.
  const audit = auditLog({ flushIntervalMs: 60_000 });
  audit.recordSignIn({
    outcome: 'success',
    method: 'password',
    ip: '203.0.113.5',
    projectId: PROJECT,
    who: 'Practitioner/p-1',
    email: 'doctor@example.com',
    clientId: 'app-1',
  });
  audit.recordSignIn({
    outcome: 'failure',
    method: 'password',
    ip: '203.0.113.5',
    email: 'doctor@example.com',
    reason: 'invalid email or password',
  });
  await audit.close();

  const events = await search({ address: '203.0.113.5' });
  expect(events).toHaveLength(2);
  const success = events.find((e) => e.outcome === '0');
  const failure = events.find((e) => e.outcome === '4');
  expect(success?.type).toEqual({
    system: 'http://dicom.nema.org/resources/ontology/DCM',
    code: '110114',
    display: 'User Authentication',
  });
  expect(success?.subtype?.[0].code).toBe('110122');
  expect(success?.meta?.project).toBe(PROJECT);
  expect(success?.agent[0]).toMatchObject({
    who: { reference: 'Practitioner/p-1' },
    requestor: true,
    altId: 'doctor@example.com',
    network: { address: '203.0.113.5', type: '2' },
  });
  expect(success?.agent[1].who?.reference).toBe('ClientApplication/app-1');
  expect(failure?.meta?.project).toBeUndefined();
  expect(failure?.outcomeDesc).toBe('password sign-in failed: invalid email or password');
  expect(failure?.agent[0].who?.display).toBe('doctor@example.com');
  // Stored as the repository stores resources: readable by id, with history and search rows.
  const read = await repo.readResource<AuditEvent>('AuditEvent', success?.id as string);
  expect(read).toEqual(success);
  expect((await repo.readHistory('AuditEvent', read.id)).entry).toHaveLength(1);
  expect(await search({ subtype: '110122', agent: 'Practitioner/p-1' })).toHaveLength(1);
  // The shapes are valid R4 AuditEvents.
  for (const event of events) {
    validateFhirResource(event);
  }
});

test('values with quotes, backslashes, braces, commas, NULL and control characters are stored intact', async () => {
  const audit = auditLog({ flushIntervalMs: 60_000 });
  const tricky = ['"quoted" \\ back\\slash', '{braces},commas', 'NULL', 'tab\tnew\nline \x1e sep', 'Zoë 名前'];
  const written: AuditEvent[] = [];
  for (const [i, text] of tricky.entries()) {
    const query = `Patient?name=${text}`;
    const e = restAuditEvent(
      { display: BASE_URL },
      {
        interaction: 'search',
        caller: { altId: text, ip: `198.51.100.${i}` },
        query,
        status: 400,
        outcomeDesc: text,
        recorded: new Date().toISOString(),
      }
    );
    written.push(e);
    audit.record(PROJECT, e);
  }
  // A NUL (PostgreSQL text cannot hold one) is replaced, and the batch is still written.
  audit.recordSignIn({ outcome: 'failure', method: 'password', ip: '198.51.100.99', email: 'a\u0000b@example.com' });
  await audit.close();
  const [nul] = await search({ address: '198.51.100.99' });
  expect(nul.agent[0].altId).toBe('a\ufffdb@example.com');
  for (const [i, text] of tricky.entries()) {
    const [stored] = await search({ address: `198.51.100.${i}` });
    // Control characters other than tab and newline are not FHIR string characters: replaced.
    const expected = text.replace('\x1e', '\ufffd');
    expect(stored.outcomeDesc).toBe(expected);
    expect(stored.entity?.[0].description).toBe(written[i].entity?.[0].description);
    expect(stored.agent[0].altId).toBe(expected);
  }
  // The search rows carry the same text: altid is a token (a backslash is escaped in a search value).
  expect(await search({ altid: '"quoted" \\\\ back\\\\slash' })).toHaveLength(1);
  expect(await search({ altid: '{braces}\\,commas' })).toHaveLength(1);
  expect(await search({ altid: 'NULL' })).toHaveLength(1);
});

test('when PostgreSQL falls behind, the oldest events are dropped and counted', async () => {
  const metrics = new Registry();
  const audit = auditLog({ flushIntervalMs: 60_000, batchSize: 1000, maxQueued: 10, metrics });
  for (let i = 0; i < 15; i++) {
    audit.record(PROJECT, event(`overflow-${i}`, '203.0.113.6'));
  }
  await audit.close();
  const stored = await search({ address: '203.0.113.6' });
  expect(stored.map((e) => e.outcomeDesc).sort()).toEqual(
    Array.from({ length: 10 }, (_, i) => `overflow-${i + 5}`).sort()
  );
  const text = await metrics.metrics();
  expect(text).toMatch(/tiba_audit_events_dropped_total\{reason="overflow"\} 5/);
  expect(text).toMatch(/tiba_audit_events_written_total 10/);
});

test('while PostgreSQL cannot be reached, events stay queued for a retry; close gives up on them', async () => {
  const metrics = new Registry();
  const audit = auditLog({ databaseUrl: 'postgres://postgres@127.0.0.1:1/nowhere', metrics });
  for (let i = 0; i < 3; i++) {
    audit.record(PROJECT, event(`outage-${i}`, '203.0.113.10'));
  }
  await audit.flush();
  let text = await metrics.metrics();
  expect(text).toMatch(/tiba_audit_queue_length 3/);
  expect(text).not.toMatch(/tiba_audit_events_dropped_total\{/);
  await audit.close();
  text = await metrics.metrics();
  expect(text).toMatch(/tiba_audit_events_dropped_total\{reason="write_failed"\} 3/);
  expect(text).toMatch(/tiba_audit_queue_length 0/);
});

test('a full batch is written without waiting for the timer', async () => {
  const audit = auditLog({ flushIntervalMs: 60_000, batchSize: 5 });
  for (let i = 0; i < 5; i++) {
    audit.record(PROJECT, event(`batch-${i}`, '203.0.113.7'));
  }
  const deadline = Date.now() + 5000;
  while ((await search({ address: '203.0.113.7' })).length < 5 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  expect(await search({ address: '203.0.113.7' })).toHaveLength(5);
  await audit.close();
});

test('a batch written in one statement costs far less than creating the events one by one', async () => {
  const count = 2000;
  const audit = auditLog({ flushIntervalMs: 60_000, batchSize: 500, maxQueued: 100_000 });
  await audit.flush(); // connect
  let start = performance.now();
  for (let i = 0; i < count; i++) {
    audit.record(PROJECT, event(`perf-${i}`, '203.0.113.8', `Patient/${i}`));
  }
  await audit.flush();
  const batchedPerSecond = count / ((performance.now() - start) / 1000);
  await audit.close();

  const system = repo.inProject(PROJECT);
  const oneByOne = 200;
  start = performance.now();
  for (let i = 0; i < oneByOne; i++) {
    await system.createResource(event(`single-${i}`, '203.0.113.9', `Patient/${i}`));
  }
  const singlePerSecond = oneByOne / ((performance.now() - start) / 1000);
  console.log(
    `audit: batched ${Math.round(batchedPerSecond)} events/s (batches of 500), one by one through the repository ${Math.round(singlePerSecond)}/s`
  );
  expect(
    (
      await pool.query(
        "SELECT count(*)::int AS n FROM resource WHERE resource_type = 'AuditEvent' AND content LIKE '%perf-%'"
      )
    ).rows[0].n
  ).toBe(count);
  expect(batchedPerSecond).toBeGreaterThan(singlePerSecond);
});

function event(marker: string, ip: string, what = 'Patient/123'): AuditEvent {
  return restAuditEvent(
    { display: BASE_URL },
    {
      interaction: 'read',
      caller: { profile: 'Practitioner/p-2', clientId: 'c-1', ip },
      what,
      status: 200,
      outcomeDesc: marker,
      recorded: new Date().toISOString(),
    }
  );
}
