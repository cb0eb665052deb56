import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { OperationOutcomeError } from '@medplum/core';
import { getStatus } from '@medplum/core';
import type { FhirRequest } from '@medplum/fhir-router';
import { FhirRouter, MemoryRepository, makeSimpleRequest } from '@medplum/fhir-router';
import type { Observation, OperationOutcome, Parameters, Patient } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions, readProfileFolder, registerProfile } from '../definitions.js';
import { registerValidateOperation, validateOperation } from './validate.js';

const PROFILE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../fhir-profiles');
const HBV_PROFILE = 'https://tiba.health/fhir/StructureDefinition/tiba-hbv-viral-load';

let repo: MemoryRepository;
const router = new FhirRouter();

/** A request as FhirRouter hands it to the handler, with the route parameters filled in. */
function request(url: string, body: unknown, params: Record<string, string>, query = {}): FhirRequest {
  return { ...makeSimpleRequest('POST', url, body), params, query };
}

async function validate(req: FhirRequest): Promise<{ status: number; outcome: OperationOutcome }> {
  const [status, body] = await validateOperation(req, repo, router);
  return { status: getStatus(status), outcome: (body ?? status) as OperationOutcome };
}

beforeAll(() => {
  loadFhirDefinitions();
  for (const sd of readProfileFolder(PROFILE_DIR)) {
    registerProfile(sd);
  }
  repo = new MemoryRepository();
  registerValidateOperation(router);
});

describe('$validate', () => {
  test('a valid resource gets 200 and a single All OK issue', async () => {
    const { status, outcome } = await validate(
      request('Patient/$validate', { resourceType: 'Patient', gender: 'male' }, { resourceType: 'Patient' })
    );
    expect(status).toBe(200);
    expect(outcome.issue).toEqual([expect.objectContaining({ severity: 'information', details: { text: 'All OK' } })]);
  });

  test('an invalid resource gets 200 with every problem as an error issue', async () => {
    const patient = { resourceType: 'Patient', gender: 'blue', birthDate: '1990-02-30' };
    const { status, outcome } = await validate(request('Patient/$validate', patient, { resourceType: 'Patient' }));
    expect(status).toBe(200);
    expect(outcome.issue.map((i) => [i.severity, i.expression?.[0]])).toEqual(
      expect.arrayContaining([
        ['error', 'Patient.gender'],
        ['error', 'Patient.birthDate'],
      ])
    );
  });

  test('accepts a Parameters body with resource and profile parts', async () => {
    const observation = {
      resourceType: 'Observation',
      status: 'final',
      code: { coding: [{ system: 'http://loinc.org', code: '1742-6' }] },
      subject: { reference: 'Patient/1' },
      valueQuantity: { value: 30, system: 'http://unitsofmeasure.org', code: 'U/L' },
    };
    const parameters: Parameters = {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource: observation as Observation },
        { name: 'profile', valueUri: HBV_PROFILE },
      ],
    };
    const { outcome } = await validate(request('Observation/$validate', parameters, { resourceType: 'Observation' }));
    expect(outcome.issue.filter((i) => i.severity === 'error').map((i) => i.expression?.[0])).toEqual(
      expect.arrayContaining(['Observation.code', 'Observation.valueQuantity'])
    );
  });

  test('an unknown profile parameter is reported', async () => {
    const { outcome } = await validate(
      request(
        'Patient/$validate',
        { resourceType: 'Patient' },
        { resourceType: 'Patient' },
        { profile: 'http://example.org/nope' }
      )
    );
    expect(outcome.issue).toEqual([expect.objectContaining({ severity: 'error', code: 'not-supported' })]);
  });

  test('a resource of the wrong type gets 400', async () => {
    const { status } = await validate(
      request('Patient/$validate', { resourceType: 'Observation' }, { resourceType: 'Patient' })
    );
    expect(status).toBe(400);
  });

  test('no resource at all gets 400; an unknown type gets 400', async () => {
    expect((await validate(request('Patient/$validate', undefined, { resourceType: 'Patient' }))).status).toBe(400);
    expect((await validate(request('Spaceship/$validate', {}, { resourceType: 'Spaceship' }))).status).toBe(400);
  });

  test('instance level: validates the body, or the stored resource when there is none', async () => {
    const stored = await repo.createResource<Patient>({ resourceType: 'Patient', gender: 'female' });
    const params = { resourceType: 'Patient', id: stored.id };
    const url = `Patient/${stored.id}/$validate`;
    expect((await validate(request(url, undefined, params))).outcome.issue[0].details?.text).toBe('All OK');
    const mismatch = await validate(request(url, { resourceType: 'Patient', id: 'other' }, params));
    expect(mismatch.status).toBe(400);
    // The repository's 404 propagates; FhirRouter turns it into the response.
    const missing = validate(request('Patient/nope/$validate', undefined, { resourceType: 'Patient', id: 'nope' }));
    await expect(missing).rejects.toSatisfy((err: OperationOutcomeError) => getStatus(err.outcome) === 404);
  });

  test('is routed by FhirRouter at type and instance level', async () => {
    const patient = { resourceType: 'Patient', gender: 'blue' };
    const [status, body] = await router.handleRequest(makeSimpleRequest('POST', 'Patient/$validate', patient), repo);
    expect(getStatus(status)).toBe(200);
    expect((body as OperationOutcome).issue[0].code).toBe('code-invalid');
    const stored = await repo.createResource<Patient>({ resourceType: 'Patient' });
    const [status2] = await router.handleRequest(makeSimpleRequest('POST', `Patient/${stored.id}/$validate`), repo);
    expect(getStatus(status2)).toBe(200);
  });
});
