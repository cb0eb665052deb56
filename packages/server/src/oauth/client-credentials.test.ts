import type { ClientApplication } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { grantedClientScope } from './client-credentials.js';
import { OAuthError } from './oauth-error.js';

const open: ClientApplication = { resourceType: 'ClientApplication' };
const readOnly: ClientApplication = { resourceType: 'ClientApplication', defaultScope: ['system/*.read openid'] };
const labOnly: ClientApplication = {
  resourceType: 'ClientApplication',
  defaultScope: ['system/Observation.rs?category=laboratory'],
};

function refused(client: ClientApplication, scope: string): string {
  try {
    grantedClientScope(client, scope);
  } catch (err) {
    expect(err).toBeInstanceOf(OAuthError);
    return (err as OAuthError).error;
  }
  throw new Error(`"${scope}" was granted`);
}

describe('grantedClientScope', () => {
  test('a client without registered scope gets what it asks, or system/*.* when it asks nothing', () => {
    expect(grantedClientScope(open, undefined)).toBe('system/*.*');
    expect(grantedClientScope(open, '  ')).toBe('system/*.*');
    expect(grantedClientScope(open, 'system/Patient.cruds system/*.read')).toBe('system/Patient.cruds system/*.read');
  });

  test('a registered scope is the default and the upper bound (v1 and v2 syntax compare)', () => {
    expect(grantedClientScope(readOnly, undefined)).toBe('system/*.read openid');
    expect(grantedClientScope(readOnly, 'system/Observation.rs')).toBe('system/Observation.rs');
    expect(grantedClientScope(readOnly, 'system/Observation.r')).toBe('system/Observation.r');
    expect(refused(readOnly, 'system/Observation.rs system/Patient.c')).toBe('invalid_scope');
    expect(refused(readOnly, 'system/*.*')).toBe('invalid_scope');
    expect(grantedClientScope(labOnly, 'system/Observation.rs?category=laboratory')).toBe(
      'system/Observation.rs?category=laboratory'
    );
    expect(refused(labOnly, 'system/Observation.rs')).toBe('invalid_scope');
  });

  test('identity-only requests stay bounded by the registered resource scopes', () => {
    expect(grantedClientScope(readOnly, 'openid')).toBe('openid system/*.read');
    expect(grantedClientScope(open, 'openid')).toBe('openid');
  });

  test('refresh scopes are dropped: client_credentials never issues a refresh token', () => {
    expect(grantedClientScope(open, 'system/*.rs offline_access')).toBe('system/*.rs');
    expect(grantedClientScope(readOnly, 'offline_access')).toBe('system/*.read openid');
  });

  test('user/ and patient/ scopes and malformed resource scopes are invalid_scope', () => {
    expect(refused(open, 'user/*.read')).toBe('invalid_scope');
    expect(refused(open, 'patient/Observation.rs')).toBe('invalid_scope');
    expect(refused(open, 'system/Observation.xyz')).toBe('invalid_scope');
    expect(refused(open, 'system/observation.read')).toBe('invalid_scope');
  });
});
