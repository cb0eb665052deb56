import type { Resource } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { INVALID_EXAMPLES, readClinicalExamples } from '../test/r4-examples.js';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

/** What the server owns in meta; everything else must come back exactly as sent. */
function withoutServerMeta(resource: Resource): Resource {
  const { meta, ...rest } = resource as Resource & { meta?: Record<string, unknown> };
  const { versionId: _v, lastUpdated: _l, project: _p, author: _a, compartment: _c, ...clientMeta } = meta ?? {};
  return Object.keys(clientMeta).length ? ({ ...rest, meta: clientMeta } as Resource) : (rest as Resource);
}

test('the official R4 examples of the clinical types round-trip unchanged', async () => {
  const examples = readClinicalExamples().filter(([name]) => !INVALID_EXAMPLES[name]);
  expect(examples.length).toBeGreaterThan(350);
  const failures: Record<string, string> = {};
  for (const [name, example] of examples) {
    // PUT keeps the example's id, so references between examples stay meaningful.
    const put = await t.request({
      method: 'PUT',
      url: `/fhir/R4/${example.resourceType}/${example.id}`,
      payload: example,
    });
    if (put.statusCode >= 300) {
      failures[name] = `PUT ${put.statusCode}: ${put.body.slice(0, 300)}`;
      continue;
    }
    const read = await t.request({ method: 'GET', url: `/fhir/R4/${example.resourceType}/${example.id}` });
    if (read.statusCode !== 200) {
      failures[name] = `GET ${read.statusCode}`;
      continue;
    }
    try {
      expect(withoutServerMeta(read.json())).toEqual(withoutServerMeta(example));
    } catch {
      failures[name] = 'content changed';
    }
  }
  expect(failures).toEqual({});
}, 120_000);

test('each stored example is found again by _id with its type', async () => {
  const examples = readClinicalExamples().filter(([name]) => !INVALID_EXAMPLES[name]);
  const byType = new Map<string, string[]>();
  for (const [, example] of examples) {
    byType.set(example.resourceType, [...(byType.get(example.resourceType) ?? []), example.id as string]);
  }
  for (const [type, ids] of byType) {
    const res = await t.request({
      method: 'GET',
      url: `/fhir/R4/${type}?_id=${ids.join(',')}&_count=1000&_total=accurate`,
    });
    expect(res.statusCode).toBe(200);
    expect({ type, total: res.json().total }).toEqual({ type, total: new Set(ids).size });
  }
}, 60_000);
