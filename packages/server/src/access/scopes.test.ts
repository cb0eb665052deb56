import type { AccessPolicy } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { entriesFor, narrowByScopes, parameterizePolicy } from './policy.js';
import { parseResourceScopes } from './scopes.js';

describe('parseResourceScopes', () => {
  test('v1 and v2 syntax', () => {
    expect(parseResourceScopes('patient/Observation.read')).toEqual([
      { context: 'patient', resourceType: 'Observation', interactions: ['read', 'vread', 'history', 'search'] },
    ]);
    expect(parseResourceScopes('user/*.cruds')?.[0].interactions).toEqual([
      'create',
      'read',
      'vread',
      'history',
      'update',
      'delete',
      'search',
    ]);
    expect(parseResourceScopes('system/Observation.rs?category=laboratory')).toEqual([
      {
        context: 'system',
        resourceType: 'Observation',
        interactions: ['read', 'vread', 'history', 'search'],
        query: 'category=laboratory',
      },
    ]);
    expect(parseResourceScopes('system/*.write')?.[0].interactions).toEqual(['create', 'update', 'delete']);
  });

  test('scopes that grant no data are ignored; none at all means no narrowing', () => {
    expect(parseResourceScopes('openid profile offline_access launch/patient')).toBeUndefined();
    expect(parseResourceScopes(undefined)).toBeUndefined();
  });

  test('a malformed resource scope grants nothing (but still narrows)', () => {
    expect(parseResourceScopes('user/Observation.sr')).toEqual([]);
    expect(parseResourceScopes('user/Observation.read?code=x')).toEqual([]);
    expect(parseResourceScopes('patient/observation.read')).toEqual([]);
  });
});

describe('narrowByScopes', () => {
  const clinician: AccessPolicy = {
    resourceType: 'AccessPolicy',
    resource: [
      { resourceType: 'Observation' },
      { resourceType: 'Condition' },
      { resourceType: 'Invoice', readonly: true },
    ],
  };

  test('keeps what both grant', () => {
    const narrowed = narrowByScopes(
      clinician,
      parseResourceScopes('user/Observation.rs user/Invoice.cruds') ?? [],
      undefined
    );
    expect(entriesFor(narrowed, 'Observation', 'read')).toHaveLength(1);
    expect(entriesFor(narrowed, 'Observation', 'create')).toHaveLength(0);
    expect(entriesFor(narrowed, 'Condition', 'read')).toHaveLength(0);
    expect(entriesFor(narrowed, 'Invoice', 'update')).toHaveLength(0);
    expect(entriesFor(narrowed, 'Invoice', 'search')).toHaveLength(1);
  });

  test('patient scopes add the compartment, or grant nothing without a patient', () => {
    const scopes = parseResourceScopes('patient/*.rs') ?? [];
    const narrowed = narrowByScopes(clinician, scopes, 'Patient/1');
    expect(entriesFor(narrowed, 'Observation', 'search')[0].compartment).toEqual({ reference: 'Patient/1' });
    expect(narrowByScopes(clinician, scopes, undefined).resource).toEqual([]);
  });

  test('v2 scope queries become criteria', () => {
    const narrowed = narrowByScopes(
      clinician,
      parseResourceScopes('system/Observation.rs?category=laboratory') ?? [],
      undefined
    );
    expect(entriesFor(narrowed, 'Observation', 'search')[0].criteria).toBe('Observation?category=laboratory');
  });

  test('a wildcard policy does not reach project administration types', () => {
    const admin: AccessPolicy = { resourceType: 'AccessPolicy', resource: [{ resourceType: '*' }] };
    const narrowed = narrowByScopes(admin, parseResourceScopes('user/AccessPolicy.cruds') ?? [], undefined);
    expect(narrowed.resource).toEqual([]);
  });
});

test('parameterizePolicy substitutes %patient and %patient.id', () => {
  const policy = parameterizePolicy(
    {
      resourceType: 'AccessPolicy',
      resource: [
        { resourceType: 'Observation', compartment: { reference: '%patient' } },
        { resourceType: 'Patient', criteria: 'Patient?_id=%patient.id' },
      ],
    },
    { patient: 'Patient/42' }
  );
  expect(policy.resource?.[0].compartment?.reference).toBe('Patient/42');
  expect(policy.resource?.[1].criteria).toBe('Patient?_id=42');
});
