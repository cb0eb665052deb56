import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startTestServer, type TestServer } from '../test/test-server.js';

let t: TestServer;
const patients: Patient[] = [];
beforeAll(async () => {
  t = await startTestServer();
  for (const [i, family] of ['Nyambura', 'Nyaga', 'Ochieng', 'Nyamweya', 'Nyokabi'].entries()) {
    const res = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient',
      payload: {
        resourceType: 'Patient',
        name: [{ family, given: ['Test'] }],
        birthDate: `1990-0${i + 1}-15`,
        identifier: [{ system: 'https://tiba.health/mrn', value: `HTTP-${i}` }],
      },
    });
    patients.push(res.json());
  }
  await t.request({
    method: 'POST',
    url: '/fhir/R4/Observation',
    payload: {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '42595-9' }] },
      subject: { reference: `Patient/${patients[0].id}` },
      valueQuantity: { value: 2000, unit: 'IU/mL', system: 'http://unitsofmeasure.org', code: '[IU]/mL' },
    } satisfies Observation,
  });
});
afterAll(async () => {
  await t?.close();
});

async function search(url: string): Promise<Bundle> {
  const res = await t.request({ method: 'GET', url });
  expect(res.statusCode, res.body).toBe(200);
  return res.json();
}

const families = (bundle: Bundle) =>
  (bundle.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => (e.resource as Patient).name?.[0].family);

describe('search over HTTP', () => {
  test('prefix string search, sorted, with paging links that work', async () => {
    const first = await search('/fhir/R4/Patient?name=nya&_sort=-birthdate&_count=2&_total=accurate');
    expect(first.total).toBe(3);
    expect(families(first)).toEqual(['Nyamweya', 'Nyaga']);
    const next = first.link?.find((l) => l.relation === 'next')?.url as string;
    expect(next.startsWith('http://localhost:8103/fhir/R4/Patient?')).toBe(true);
    const second = await search(next.replace('http://localhost:8103', ''));
    expect(families(second)).toEqual(['Nyambura']);
  });

  test('POST _search with a form body equals GET', async () => {
    const res = await t.request({
      method: 'POST',
      url: '/fhir/R4/Patient/_search',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: 'identifier=https://tiba.health/mrn|HTTP-2',
    });
    expect(res.statusCode).toBe(200);
    expect(families(res.json())).toEqual(['Ochieng']);
  });

  test('_summary=count, _elements, _include, chained and reverse-chained search', async () => {
    const count = await search('/fhir/R4/Patient?name=ny&_summary=count');
    expect(count.total).toBe(4);
    expect(count.entry ?? []).toHaveLength(0);

    const elements = await search('/fhir/R4/Patient?identifier=https://tiba.health/mrn|HTTP-0&_elements=birthDate');
    const trimmed = elements.entry?.[0].resource as Patient;
    expect(trimmed.birthDate).toBe('1990-01-15');
    expect(trimmed.name).toBeUndefined();

    const included = await search('/fhir/R4/Observation?code=http://loinc.org|42595-9&_include=Observation:subject');
    expect(included.entry?.map((e) => e.search?.mode).sort()).toEqual(['include', 'match']);

    const chained = await search('/fhir/R4/Observation?subject:Patient.name=nyambura');
    expect(chained.entry).toHaveLength(1);

    const reverse = await search('/fhir/R4/Patient?_has:Observation:subject:code=42595-9');
    expect(families(reverse)).toEqual(['Nyambura']);

    const quantity = await search('/fhir/R4/Observation?value-quantity=gt1000|http://unitsofmeasure.org|[IU]/mL');
    expect(quantity.entry).toHaveLength(1);
  });

  test('partial dates follow FHIR range semantics', async () => {
    expect(families(await search('/fhir/R4/Patient?birthdate=1990-03'))).toEqual(['Ochieng']);
    expect(families(await search('/fhir/R4/Patient?birthdate=ge1990-04&_sort=birthdate'))).toEqual([
      'Nyamweya',
      'Nyokabi',
    ]);
  });
});
