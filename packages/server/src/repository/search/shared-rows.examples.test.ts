import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { getSearchParameters } from '@medplum/core';
import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../../fhir/definitions.js';
import { EXAMPLES_DIR } from '../../test/r4-examples.js';
import { IDENTIFIER_SUFFIX } from './index-convert.js';
import { computeOwnRows, computeSearchRows, getRowSource } from './index-values.js';
import type { SearchRows } from './rows.js';
import type { RowSource } from './shared-rows.js';

beforeAll(() => loadFhirDefinitions());

/** Rows as comparable strings, without the code (and without the flags only shared rows carry). */
function keys(rows: SearchRows, code: string, source: RowSource = { code }): string[] {
  const out = [
    ...rows.token
      .filter((r) => r.code === source.code && (source.system === undefined || r.system === source.system))
      .map((r) => `token ${r.system}|${r.value}|${r.text}`),
    ...rows.reference
      .filter((r) => r.code === source.code && (source.targetType === undefined || r.targetType === source.targetType))
      .map((r) => `reference ${r.targetType}|${r.targetId}|${r.reference}`),
    ...rows.string
      .filter((r) => r.code === source.code && (source.part === undefined || r.part === source.part))
      .map((r) => `string ${r.value}|${r.norm}`),
  ];
  return [...new Set(out)].sort();
}

test('every shared parameter finds, in the rows it shares, exactly the rows it would write itself (R4 examples)', () => {
  let compared = 0;
  for (const name of readdirSync(EXAMPLES_DIR).filter((n) => n.endsWith('.json') && !n.startsWith('.'))) {
    const resource = JSON.parse(readFileSync(path.join(EXAMPLES_DIR, name), 'utf8')) as Resource;
    const codes = Object.keys(getSearchParameters(resource.resourceType ?? '') ?? {});
    const shared = codes.filter(
      (code) => JSON.stringify(getRowSource(resource.resourceType, code)) !== `{"code":"${code}"}`
    );
    if (shared.length === 0) {
      continue;
    }
    const rows = computeSearchRows(resource);
    for (const code of shared) {
      const own = computeOwnRows(resource, code);
      const label = `${name} ${code}`;
      expect(keys(rows, code, getRowSource(resource.resourceType, code)), label).toEqual(keys(own, code));
      const identifiers = code + IDENTIFIER_SUFFIX;
      const identifierSource = getRowSource(resource.resourceType, identifiers);
      expect(keys(rows, identifiers, identifierSource), label).toEqual(keys(own, identifiers));
      compared += keys(own, code).length;
    }
  }
  expect(compared).toBeGreaterThan(500);
});
