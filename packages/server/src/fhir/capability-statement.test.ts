import type { CapabilityStatementRestResource } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { buildCapabilityStatement } from './capability-statement.js';
import { loadFhirDefinitions } from './definitions.js';
import { validateFhirResource } from './validation/validate-resource.js';

const options = { baseUrl: 'https://ehr.example.org/', version: '0.1.0' };

function resource(type: string): CapabilityStatementRestResource {
  const found = buildCapabilityStatement(options).rest?.[0].resource?.find((r) => r.type === type);
  expect(found).toBeDefined();
  return found as CapabilityStatementRestResource;
}

beforeAll(() => {
  loadFhirDefinitions();
});

describe('buildCapabilityStatement', () => {
  test('describes a FHIR 4.0.1 JSON server at the base URL', () => {
    const cs = buildCapabilityStatement(options);
    expect(cs).toMatchObject({
      resourceType: 'CapabilityStatement',
      status: 'active',
      kind: 'instance',
      fhirVersion: '4.0.1',
      format: ['json'],
      software: { name: 'Tiba', version: '0.1.0' },
      implementation: { url: 'https://ehr.example.org/fhir/R4' },
    });
  });

  test('is itself a valid CapabilityStatement', () => {
    expect(() => validateFhirResource(buildCapabilityStatement(options))).not.toThrow();
  });

  test('lists every resource type of the schema once, R4 and Medplum alike', () => {
    const types = buildCapabilityStatement(options).rest?.[0].resource?.map((r) => r.type) ?? [];
    expect(types.length).toBeGreaterThan(140);
    expect(new Set(types).size).toBe(types.length);
    expect(types).toEqual(expect.arrayContaining(['Patient', 'Observation', 'ValueSet', 'Binary', 'Project', 'Bot']));
    expect(resource('Patient').profile).toBe('http://hl7.org/fhir/StructureDefinition/Patient');
    expect(resource('Bot').profile).toBe('https://medplum.com/fhir/StructureDefinition/Bot');
  });

  test('declares the interactions and conditional operations of every type', () => {
    expect(resource('Observation')).toMatchObject({
      versioning: 'versioned-update',
      readHistory: true,
      updateCreate: true,
      conditionalCreate: true,
      conditionalUpdate: true,
      conditionalDelete: 'single',
    });
    expect(resource('Observation').interaction?.map((i) => i.code)).toEqual([
      'read',
      'vread',
      'update',
      'patch',
      'delete',
      'history-instance',
      'history-type',
      'create',
      'search-type',
    ]);
  });

  test('lists the search parameters with their definition and type', () => {
    const params = resource('Patient').searchParam ?? [];
    expect(params).toEqual(
      expect.arrayContaining([
        { name: 'birthdate', definition: 'http://hl7.org/fhir/SearchParameter/individual-birthdate', type: 'date' },
        expect.objectContaining({
          name: '_id',
          definition: 'http://hl7.org/fhir/SearchParameter/Resource-id',
          type: 'token',
        }),
        expect.objectContaining({ name: 'general-practitioner', type: 'reference' }),
      ])
    );
    expect(new Set(params.map((p) => p.name)).size).toBe(params.length);
  });

  test('lists includes and reverse includes', () => {
    expect(resource('Observation').searchInclude).toContain('Observation:subject');
    expect(resource('Patient').searchRevInclude).toEqual(
      expect.arrayContaining(['Observation:subject', 'Encounter:patient'])
    );
  });

  test('declares system interactions, operations and SMART security', () => {
    const rest = buildCapabilityStatement(options).rest?.[0];
    expect(rest?.interaction?.map((i) => i.code)).toEqual(['transaction', 'batch', 'search-system', 'history-system']);
    expect(rest?.operation?.map((o) => o.name)).toEqual(['graphql']);
    expect(resource('Patient').operation?.map((o) => o.name)).toEqual(['validate']);
    expect(resource('ValueSet').operation?.map((o) => o.name)).toEqual(['validate', 'expand']);
    expect(rest?.security?.service?.[0].coding?.[0].code).toBe('SMART-on-FHIR');
    const oauth = rest?.security?.extension?.find((e) => e.url.endsWith('/oauth-uris'));
    expect(oauth?.extension).toContainEqual({ url: 'token', valueUri: 'https://ehr.example.org/oauth2/token' });
  });

  test('names the compartments searchable as Patient/123/Observation, by their R4 canonical URLs', () => {
    expect(buildCapabilityStatement(options).rest?.[0].compartment).toEqual([
      'http://hl7.org/fhir/CompartmentDefinition/patient',
      'http://hl7.org/fhir/CompartmentDefinition/encounter',
      'http://hl7.org/fhir/CompartmentDefinition/relatedPerson',
      'http://hl7.org/fhir/CompartmentDefinition/practitioner',
      'http://hl7.org/fhir/CompartmentDefinition/device',
    ]);
  });

  test('is built once and shared, frozen', () => {
    const first = buildCapabilityStatement(options);
    expect(buildCapabilityStatement(options)).toBe(first);
    expect(Object.isFrozen(first.rest?.[0].resource?.[0])).toBe(true);
    expect(buildCapabilityStatement({ ...options, baseUrl: 'http://localhost:8103/' })).not.toBe(first);
  });
});
