import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { CLINICAL_TYPES, EXAMPLES_DIR, INVALID_EXAMPLES, readClinicalExamples } from '../../test/r4-examples.js';
import { loadFhirDefinitions } from '../definitions.js';
import { collectValidationIssues } from './validate-resource.js';

beforeAll(() => {
  loadFhirDefinitions();
});

test('every official R4 example of the clinical types validates, bar the known-invalid ones', () => {
  const examples = readClinicalExamples();
  expect(examples.length).toBeGreaterThan(350);
  expect(new Set(examples.map(([, r]) => r.resourceType)).size).toBe(CLINICAL_TYPES.size);

  const failures: Record<string, string[]> = {};
  for (const [name, resource] of examples) {
    const errors = collectValidationIssues(resource).filter((i) => i.severity === 'error');
    const unexpected = errors.filter((i) => !INVALID_EXAMPLES[name]?.test(i.expression?.[0] ?? ''));
    if (unexpected.length > 0) {
      failures[name] = unexpected.map((i) => `${i.expression?.[0]}: ${i.details?.text}`);
    }
  }
  expect(failures).toEqual({});
});

test('the known-invalid examples are still rejected (so the exclusions stay honest)', () => {
  for (const name of Object.keys(INVALID_EXAMPLES)) {
    const resource = JSON.parse(readFileSync(path.join(EXAMPLES_DIR, name), 'utf8')) as Resource;
    expect(collectValidationIssues(resource).some((i) => i.severity === 'error')).toBe(true);
  }
});
