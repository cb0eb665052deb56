import type { BundleEntry } from '@medplum/fhirtypes';
import { describe, expect, test } from 'vitest';
import { isConditionalEntry, resolutionOrder } from './transaction-conditional-entries.js';
import { mentionsAny, rewriteReferences } from './transaction-references.js';

const PATIENT = 'urn:uuid:7f1f3a52-7a7e-4c0e-8e2b-5f1e2c3d4b5a';
const OTHER = 'urn:uuid:0b7c1a0e-1f6a-4c5e-9a4b-2d7e1f0a9c11';

describe('rewriteReferences', () => {
  test('rewrites whole references at any depth and URNs inside longer strings', () => {
    const value = {
      subject: { reference: PATIENT },
      performer: [{ reference: OTHER }],
      contained: [{ resourceType: 'Provenance', target: [{ reference: PATIENT }] }],
      text: { div: `<div><a href="${PATIENT}">p</a></div>` },
      url: `Observation?subject=${PATIENT.replaceAll(':', '%3A')}&code=x`,
    };
    rewriteReferences(value, new Map([[PATIENT, 'Patient/123']]));
    expect(value.subject.reference).toBe('Patient/123');
    expect(value.performer[0].reference).toBe(OTHER);
    expect(value.contained[0].target[0].reference).toBe('Patient/123');
    expect(value.text.div).toBe('<div><a href="Patient/123">p</a></div>');
    expect(value.url).toBe('Observation?subject=Patient/123&code=x');
  });

  test('rewrites an absolute fullUrl only where it is the whole string', () => {
    const fullUrl = 'http://example.org/fhir/Patient/a';
    const value = { subject: { reference: fullUrl }, note: [{ text: `see ${fullUrl}` }] };
    rewriteReferences(value, new Map([[fullUrl, 'Patient/123']]));
    expect(value).toEqual({ subject: { reference: 'Patient/123' }, note: [{ text: `see ${fullUrl}` }] });
  });

  test('mentionsAny sees percent-encoded URNs', () => {
    expect(mentionsAny(`subject=${PATIENT.replaceAll(':', '%3a')}`, [PATIENT])).toBe(true);
    expect(mentionsAny('subject=Patient/1', [PATIENT])).toBe(false);
  });
});

describe('conditional entries', () => {
  const create = (fullUrl: string, ifNoneExist: string): BundleEntry => ({
    fullUrl,
    resource: { resourceType: 'Patient' },
    request: { method: 'POST', url: 'Patient', ifNoneExist },
  });

  test('are conditional creates, type-level updates and deletes with a query', () => {
    expect(isConditionalEntry(create(PATIENT, 'identifier=a|b'))).toBe(true);
    expect(isConditionalEntry({ request: { method: 'POST', url: 'Patient' } })).toBe(false);
    expect(isConditionalEntry({ request: { method: 'PUT', url: 'Patient?identifier=a|b' } })).toBe(true);
    expect(isConditionalEntry({ request: { method: 'PUT', url: 'Patient/1' } })).toBe(false);
    expect(isConditionalEntry({ request: { method: 'PUT', url: 'Patient/1?x=y' } })).toBe(false);
    expect(isConditionalEntry({ request: { method: 'DELETE', url: 'Patient?identifier=a|b' } })).toBe(true);
    expect(isConditionalEntry({ request: { method: 'PATCH', url: 'Patient?identifier=a|b' } })).toBe(false);
    expect(isConditionalEntry({ request: { method: 'GET', url: 'Patient?identifier=a|b' } })).toBe(false);
  });

  test('resolve an entry after the conditional entries its query names', () => {
    const entries: BundleEntry[] = [
      create(OTHER, `link=${PATIENT}`),
      { request: { method: 'POST', url: 'Observation' } },
      create(PATIENT, 'identifier=a|b'),
    ];
    expect(resolutionOrder(entries)).toEqual([2, 0]);
  });

  test('a cycle falls back to bundle order', () => {
    const entries = [create(OTHER, `link=${PATIENT}`), create(PATIENT, `link=${OTHER}`)];
    expect(resolutionOrder(entries)).toEqual([0, 1]);
  });
});
