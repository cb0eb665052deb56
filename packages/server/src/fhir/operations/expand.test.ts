import { getStatus } from '@medplum/core';
import { FhirRouter, MemoryRepository, makeSimpleRequest } from '@medplum/fhir-router';
import type { OperationOutcome, Parameters, ValueSet } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../definitions.js';
import { registerExpandOperation } from './expand.js';

const router = new FhirRouter();
let repo: MemoryRepository;

/** Status and body: the expanded ValueSet, or the OperationOutcome of a failure. */
async function call(method: 'GET' | 'POST', url: string, body?: unknown): Promise<[number, ValueSet]> {
  const [outcome, resource] = await router.handleRequest(makeSimpleRequest(method, url, body), repo);
  return [getStatus(outcome), (resource ?? outcome) as ValueSet];
}

const GENDER = 'http://hl7.org/fhir/ValueSet/administrative-gender';

beforeAll(() => {
  loadFhirDefinitions();
  repo = new MemoryRepository();
  registerExpandOperation(router);
});

describe('ValueSet/$expand', () => {
  test('GET expands a value set by url', async () => {
    const [status, vs] = await call('GET', `ValueSet/$expand?url=${encodeURIComponent(GENDER)}`);
    expect(status).toBe(200);
    expect(vs).toMatchObject({ resourceType: 'ValueSet', url: GENDER, status: 'active' });
    expect(vs.expansion?.total).toBe(4);
    expect(vs.expansion?.timestamp).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(vs.expansion?.contains?.[0]).toEqual({
      system: 'http://hl7.org/fhir/administrative-gender',
      code: 'male',
      display: 'Male',
    });
  });

  test('filter is a case-insensitive substring of display or code', async () => {
    const [, byDisplay] = await call('GET', `ValueSet/$expand?url=${GENDER}&filter=FEM`);
    expect(byDisplay.expansion?.contains?.map((c) => c.code)).toEqual(['female']);
    const [, byCode] = await call(
      'GET',
      'ValueSet/$expand?url=http://terminology.hl7.org/ValueSet/v3-ActPriority&filter=em'
    );
    expect(byCode.expansion?.contains?.map((c) => c.code)).toContain('EM');
  });

  test('count and offset page the matches; total counts them all', async () => {
    const [, page] = await call('GET', `ValueSet/$expand?url=${GENDER}&count=2&offset=1`);
    expect(page.expansion?.total).toBe(4);
    expect(page.expansion?.offset).toBe(1);
    expect(page.expansion?.contains?.map((c) => c.code)).toEqual(['female', 'other']);
  });

  test('POST takes a Parameters body', async () => {
    const body: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'url', valueUri: 'http://hl7.org/fhir/ValueSet/observation-status|4.0.1' },
        { name: 'filter', valueString: 'final' },
      ],
    };
    const [status, vs] = await call('POST', 'ValueSet/$expand', body);
    expect(status).toBe(200);
    expect(vs.expansion?.contains?.map((c) => c.code)).toEqual(['final']);
  });

  test('expands a ValueSet stored on the server', async () => {
    await repo.createResource<ValueSet>({
      resourceType: 'ValueSet',
      url: 'https://tiba.health/fhir/ValueSet/triage-colour',
      status: 'active',
      compose: {
        include: [
          {
            system: 'https://tiba.health/fhir/CodeSystem/sats',
            concept: [
              { code: 'red', display: 'Emergency' },
              { code: 'green', display: 'Routine' },
            ],
          },
        ],
      },
    });
    const [status, vs] = await call('GET', 'ValueSet/$expand?url=https://tiba.health/fhir/ValueSet/triage-colour');
    expect(status).toBe(200);
    expect(vs.expansion?.contains?.map((c) => c.code)).toEqual(['red', 'green']);
  });

  test('an unknown url is 404, a missing url or bad count 400', async () => {
    expect((await call('GET', 'ValueSet/$expand?url=http://example.org/ValueSet/nope'))[0]).toBe(404);
    expect((await call('GET', 'ValueSet/$expand'))[0]).toBe(400);
    expect((await call('GET', `ValueSet/$expand?url=${GENDER}&count=-1`))[0]).toBe(400);
  });

  test('a known value set over an external code system is refused, not faked', async () => {
    const [status, body] = await call('GET', 'ValueSet/$expand?url=http://hl7.org/fhir/ValueSet/ucum-units');
    expect(status).toBe(400);
    expect((body as unknown as OperationOutcome).issue[0].code).toBe('not-supported');
  });
});
