import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Observation, OperationOutcome, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';

const MRN = 'urn:test:mrn';
const CODES = 'urn:test:code';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => {
  await t?.close();
});

/** POSTs the bundle; the answer is a response Bundle or, when the transaction failed, an OperationOutcome. */
async function send(bundle: Bundle): Promise<{ status: number; body: Bundle; outcome: OperationOutcome }> {
  const res = await t.request({ method: 'POST', url: '/fhir/R4', payload: bundle });
  return { status: res.statusCode, body: res.json(), outcome: res.json() };
}

function transaction(entry: BundleEntry[]): Bundle {
  return { resourceType: 'Bundle', type: 'transaction', entry };
}

function patient(mrn: string, family = 'Conditional'): Patient {
  return { resourceType: 'Patient', identifier: [{ system: MRN, value: mrn }], name: [{ family }] };
}

/** `count` Observation creates coded `tag` (so a test can count them) about `subject`. */
function observations(count: number, tag: string, subject: string): BundleEntry[] {
  return Array.from({ length: count }, (_, i) => ({
    fullUrl: `urn:uuid:${randomUUID()}`,
    resource: {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: CODES, code: tag }] },
      valueQuantity: { value: 60 + i, unit: '/min' },
      subject: { reference: subject },
    } as Observation,
    request: { method: 'POST', url: 'Observation' },
  }));
}

/** One conditional Patient (ifNoneExist on its MRN) and `size - 1` Observations referencing it by urn:uuid. */
function ingestBundle(mrn: string, tag: string, size: number): Bundle {
  const fullUrl = `urn:uuid:${randomUUID()}`;
  return transaction([
    {
      fullUrl,
      resource: patient(mrn),
      request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN}|${mrn}` },
    },
    ...observations(size - 1, tag, fullUrl),
  ]);
}

async function total(query: string): Promise<number> {
  const res = await t.request({ method: 'GET', url: `/fhir/R4/${query}&_total=accurate` });
  return (res.json() as Bundle).total ?? -1;
}

const patientsWith = (mrn: string) => total(`Patient?identifier=${MRN}|${mrn}`);
const observationsCoded = (tag: string) => total(`Observation?code=${CODES}|${tag}`);
const idOf = (entry: BundleEntry | undefined) => entry?.response?.location?.split('/')[1] as string;

describe('conditional create (ifNoneExist) in a transaction', () => {
  test('creates once, then answers 200 with the existing resource and points references at it', async () => {
    const mrn = randomUUID();
    const bundle = ingestBundle(mrn, 'ingest', 30);

    const first = await send(bundle);
    expect(first.status).toBe(200);
    expect(first.body.entry).toHaveLength(30);
    expect(first.body.entry?.map((e) => e.response?.status)).toEqual(Array(30).fill('201'));
    const patientId = idOf(first.body.entry?.[0]);
    expect(await total(`Observation?subject=Patient/${patientId}`)).toBe(29);

    const second = await send(bundle);
    expect(second.status).toBe(200);
    expect(second.body.type).toBe('transaction-response');
    expect(second.body.entry).toHaveLength(30);
    const [patientEntry, ...created] = second.body.entry ?? [];
    expect(patientEntry.response?.status).toBe('200');
    expect(patientEntry.response?.location).toBe(`Patient/${patientId}`);
    expect(patientEntry.resource?.id).toBe(patientId);
    expect(created.map((e) => e.response?.status)).toEqual(Array(29).fill('201'));
    expect(created.map((e) => (e.resource as Observation).subject?.reference)).toEqual(
      Array(29).fill(`Patient/${patientId}`)
    );
    expect(await patientsWith(mrn)).toBe(1);
    expect(await total(`Observation?subject=Patient/${patientId}`)).toBe(58);
  });

  test('a query naming another conditional entry is resolved after it', async () => {
    const mrn = randomUUID();
    const patientUrl = `urn:uuid:${randomUUID()}`;
    const tag = `chained-${randomUUID()}`;
    const [observation] = observations(1, tag, patientUrl);
    const bundle = transaction([
      {
        ...observation,
        request: { method: 'POST', url: 'Observation', ifNoneExist: `subject=${patientUrl}&code=${CODES}|${tag}` },
      },
      {
        fullUrl: patientUrl,
        resource: patient(mrn),
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN}|${mrn}` },
      },
    ]);
    const first = await send(bundle);
    expect(first.body.entry?.map((e) => e.response?.status)).toEqual(['201', '201']);
    const second = await send(bundle);
    expect(second.body.entry?.map((e) => e.response?.status)).toEqual(['200', '200']);
    expect(idOf(second.body.entry?.[0])).toBe(idOf(first.body.entry?.[0]));
    expect(await observationsCoded(tag)).toBe(1);
  });

  test('two concurrent identical transactions create one Patient', async () => {
    for (let round = 0; round < 3; round++) {
      const mrn = randomUUID();
      const tag = `race-${mrn}`;
      const [a, b] = await Promise.all([send(ingestBundle(mrn, tag, 10)), send(ingestBundle(mrn, tag, 10))]);
      expect([a.status, b.status]).toEqual([200, 200]);
      expect(await patientsWith(mrn)).toBe(1);
      expect(idOf(a.body.entry?.[0])).toBe(idOf(b.body.entry?.[0]));
      expect(await total(`Observation?subject=Patient/${idOf(a.body.entry?.[0])}`)).toBe(18);
    }
  });
});

describe('conditional update in a transaction', () => {
  test('creates when nothing matches, then updates the match', async () => {
    const mrn = randomUUID();
    const tag = `put-${mrn}`;
    const bundle = (family: string) => {
      const fullUrl = `urn:uuid:${randomUUID()}`;
      return transaction([
        {
          fullUrl,
          resource: patient(mrn, family),
          request: { method: 'PUT', url: `Patient?identifier=${MRN}|${mrn}` },
        },
        ...observations(11, tag, fullUrl),
      ]);
    };

    const first = await send(bundle('Before'));
    expect(first.status).toBe(200);
    expect(first.body.entry).toHaveLength(12);
    expect(first.body.entry?.[0].response?.status).toBe('201');
    const patientId = idOf(first.body.entry?.[0]);

    const second = await send(bundle('After'));
    expect(second.status).toBe(200);
    expect(second.body.entry?.[0].response?.status).toBe('200');
    expect(idOf(second.body.entry?.[0])).toBe(patientId);
    const stored = (await t.request({ method: 'GET', url: `/fhir/R4/Patient/${patientId}` })).json() as Patient;
    expect(stored.name?.[0].family).toBe('After');
    expect(await patientsWith(mrn)).toBe(1);
    expect(await total(`Observation?subject=Patient/${patientId}`)).toBe(22);
  });

  test('an id that is not the match is refused', async () => {
    const mrn = randomUUID();
    await t.request({ method: 'POST', url: '/fhir/R4/Patient', payload: patient(mrn) });
    const res = await send(
      transaction([
        {
          resource: { ...patient(mrn), id: 'other' },
          request: { method: 'PUT', url: `Patient?identifier=${MRN}|${mrn}` },
        },
      ])
    );
    expect(res.status).toBe(400);
  });
});

describe('conditional delete in a transaction', () => {
  test('deletes the match; with no match there is nothing to delete', async () => {
    const mrn = randomUUID();
    const tag = `delete-${mrn}`;
    const existing = (await t.request({ method: 'POST', url: '/fhir/R4/Patient', payload: patient(mrn) })).json();
    const bundle = transaction([
      ...observations(5, tag, `Patient/${existing.id}`),
      { request: { method: 'DELETE', url: `Patient?identifier=${MRN}|${mrn}` } },
      ...observations(5, tag, `Patient/${existing.id}`),
    ]);

    const first = await send(bundle);
    expect(first.status).toBe(200);
    expect(first.body.entry?.map((e) => e.response?.status)).toEqual([
      ...Array(5).fill('201'),
      '200',
      ...Array(5).fill('201'),
    ]);
    expect((await t.request({ method: 'GET', url: `/fhir/R4/Patient/${existing.id}` })).statusCode).toBe(410);

    const second = await send(bundle);
    expect(second.status).toBe(200);
    expect(second.body.entry).toHaveLength(11);
    expect(second.body.entry?.[5].response?.status).toBe('200');
    expect(await observationsCoded(tag)).toBe(20);

    const alone = await send(transaction([{ request: { method: 'DELETE', url: `Patient?identifier=${MRN}|${mrn}` } }]));
    expect(alone.status).toBe(200);
    expect(alone.body.entry?.map((e) => e.response?.status)).toEqual(['200']);
  });

  test('errors name entries by their index as sent', async () => {
    const res = await send(
      transaction([
        { request: { method: 'DELETE', url: `Patient?identifier=${MRN}|${randomUUID()}` } },
        { resource: patient(randomUUID()), request: { method: 'POST' } as BundleEntry['request'] },
      ])
    );
    expect(res.status).toBe(400);
    expect(res.outcome.issue?.[0].expression).toEqual(['Bundle.entry[1].request.url']);
  });
});

describe('several matches', () => {
  const forms: [string, (mrn: string) => BundleEntry][] = [
    [
      'create',
      (mrn) => ({
        resource: patient(mrn),
        request: { method: 'POST', url: 'Patient', ifNoneExist: `identifier=${MRN}|${mrn}` },
      }),
    ],
    [
      'update',
      (mrn) => ({ resource: patient(mrn), request: { method: 'PUT', url: `Patient?identifier=${MRN}|${mrn}` } }),
    ],
    ['delete', (mrn) => ({ request: { method: 'DELETE', url: `Patient?identifier=${MRN}|${mrn}` } })],
  ];

  test.each(forms)('fail the whole transaction with 412 (conditional %s)', async (_form, conditional) => {
    const mrn = randomUUID();
    const tag = `several-${mrn}`;
    for (const family of ['One', 'Two']) {
      await t.request({ method: 'POST', url: '/fhir/R4/Patient', payload: patient(mrn, family) });
    }
    const before = await total('Observation?_count=0');
    const res = await send(
      transaction([...observations(5, tag, 'Patient/x'), conditional(mrn), ...observations(5, tag, 'Patient/x')])
    );
    expect(res.status).toBe(412);
    expect(res.outcome.resourceType).toBe('OperationOutcome');
    expect(res.outcome.issue?.[0].expression).toEqual(['Bundle.entry[5].request']);
    expect(await total('Observation?_count=0')).toBe(before);
    expect(await observationsCoded(tag)).toBe(0);
    expect(await patientsWith(mrn)).toBe(2);
  });
});
