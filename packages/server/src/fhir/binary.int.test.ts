import type { Binary } from '@medplum/fhirtypes';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

test('raw upload and download keep the bytes and the content type', async () => {
  const bytes = Buffer.from([0x25, 0x50, 0x44, 0x46, 0x00, 0xff, 0x10, 0x80]);
  const created = await t.request({
    method: 'POST',
    url: '/fhir/R4/Binary',
    headers: { 'content-type': 'application/pdf' },
    payload: bytes,
  });
  expect(created.statusCode).toBe(201);
  const binary = created.json() as Binary;
  expect(binary.contentType).toBe('application/pdf');

  const raw = await t.request({ method: 'GET', url: `/fhir/R4/Binary/${binary.id}`, headers: { accept: '*/*' } });
  expect(raw.statusCode).toBe(200);
  expect(raw.headers['content-type']).toBe('application/pdf');
  expect(raw.rawPayload.equals(bytes)).toBe(true);

  const json = await t.request({
    method: 'GET',
    url: `/fhir/R4/Binary/${binary.id}`,
    headers: { accept: 'application/fhir+json' },
  });
  expect((json.json() as Binary).data).toBe(bytes.toString('base64'));
});

test('raw bytes on a non-Binary route are refused', async () => {
  const res = await t.request({
    method: 'POST',
    url: '/fhir/R4/Patient',
    headers: { 'content-type': 'image/png' },
    payload: Buffer.from([1, 2, 3]),
  });
  expect(res.statusCode).toBeGreaterThanOrEqual(400);
  expect(res.statusCode).toBeLessThan(500);
});
