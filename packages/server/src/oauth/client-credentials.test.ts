import type { ClientApplication } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../fhir/definitions.js';
import { grantedClientScope } from './client-credentials.js';
import { OAuthError } from './oauth-error.js';

const open: ClientApplication = { resourceType: 'ClientApplication' };
const readOnly: ClientApplication = { resourceType: 'ClientApplication', defaultScope: ['system/*.read openid'] };
const labOnly: ClientApplication = {
  resourceType: 'ClientApplication',
  defaultScope: ['system/Observation.rs?category=laboratory'],
};

// Resource types are checked against the indexed R4 definitions.
beforeAll(() => loadFhirDefinitions());

function refused(client: ClientApplication, scope: string | undefined, scopeRequired = false): string {
  try {
    grantedClientScope(client, scope, scopeRequired);
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthError);
    return (err as OAuthError).error;
  }
  throw new Error(`"${scope}" was granted`);
}

describe('grantedClientScope', () => {
  test('a secret client that sends no scope gets its registered one, or system/*.*', () => {
    expect(grantedClientScope(open, undefined, false)).toBe('system/*.*');
    expect(grantedClientScope(readOnly, undefined, false)).toBe('system/*.read openid');
    expect(grantedClientScope(open, 'system/Patient.cruds system/*.read', false)).toBe(
      'system/Patient.cruds system/*.read'
    );
  });

  test('a missing or empty scope is invalid_scope when required (assertions) or when sent empty', () => {
    expect(refused(open, undefined, true)).toBe('invalid_scope');
    expect(refused(readOnly, undefined, true)).toBe('invalid_scope');
    expect(refused(open, '', false)).toBe('invalid_scope');
    expect(refused(open, '  ', true)).toBe('invalid_scope');
  });

  test('a scope without any system/ resource scope is invalid_scope; other words are not granted', () => {
    expect(refused(open, 'openid', false)).toBe('invalid_scope');
    expect(refused(readOnly, 'offline_access launch', true)).toBe('invalid_scope');
    expect(refused(open, 'hello world', true)).toBe('invalid_scope');
    expect(grantedClientScope(open, 'openid system/*.rs offline_access spaceships', true)).toBe('system/*.rs');
    expect(grantedClientScope(open, 'system/Patient.rs system/Patient.rs', true)).toBe('system/Patient.rs');
  });

  test('resource types that do not exist are invalid_scope; Medplum types and * exist', () => {
    expect(refused(open, 'system/Spaceship.read', true)).toBe('invalid_scope');
    expect(refused(open, 'system/Patient.rs system/Spaceship.rs', true)).toBe('invalid_scope');
    expect(grantedClientScope(open, 'system/Bot.rs system/*.cruds', true)).toBe('system/Bot.rs system/*.cruds');
  });

  test('a registered scope is the upper bound (v1 and v2 syntax compare)', () => {
    expect(grantedClientScope(readOnly, 'system/Observation.rs', true)).toBe('system/Observation.rs');
    expect(grantedClientScope(readOnly, 'system/Observation.r', true)).toBe('system/Observation.r');
    expect(refused(readOnly, 'system/Observation.rs system/Patient.c', true)).toBe('invalid_scope');
    expect(refused(readOnly, 'system/*.*', true)).toBe('invalid_scope');
    expect(grantedClientScope(labOnly, 'system/Observation.rs?category=laboratory', true)).toBe(
      'system/Observation.rs?category=laboratory'
    );
    expect(refused(labOnly, 'system/Observation.rs', true)).toBe('invalid_scope');
  });

  test('user/ and patient/ scopes and malformed resource scopes are invalid_scope', () => {
    expect(refused(open, 'user/*.read', true)).toBe('invalid_scope');
    expect(refused(open, 'patient/Observation.rs', true)).toBe('invalid_scope');
    expect(refused(open, 'system/Observation.xyz', true)).toBe('invalid_scope');
    expect(refused(open, 'system/observation.read', true)).toBe('invalid_scope');
  });
});
