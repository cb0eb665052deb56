import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Resource } from '@medplum/fhirtypes';
import { beforeAll, expect, test } from 'vitest';
import { loadFhirDefinitions } from '../../fhir/definitions.js';
import { computeSearchRowsWith } from './index-values.js';
import type { SearchRows } from './rows.js';

beforeAll(() => loadFhirDefinitions());

function sorted(rows: SearchRows): Record<string, string[]> {
  return Object.fromEntries(Object.entries(rows).map(([k, v]) => [k, v.map((r: object) => JSON.stringify(r)).sort()]));
}

/**
 * Where the fast path knowingly does better than Medplum's FHIRPath: `resolve() is Patient` on an
 * absolute URL (FHIRPath takes "http:" for the type), and a 1e-245 decimal FHIRPath drops.
 */
function isKnownImprovement(file: string, table: string, row: string): boolean {
  return (table === 'reference' && row.includes('"reference":"http')) || file === 'Observation-decimal.json';
}

// The fast path must be a pure optimisation: same rows as FHIRPath on every R4 example.
test('fast paths produce the same rows as FHIRPath on the R4 examples', () => {
  const dir = path.dirname(createRequire(import.meta.url).resolve('hl7.fhir.r4.examples/package.json'));
  let checked = 0;
  const diffs: string[] = [];
  for (const file of readdirSync(dir)) {
    // Conformance resources are huge and exercise no extra shapes; keep the test quick.
    if (!file.endsWith('.json') || file === 'package.json' || statSync(path.join(dir, file)).size > 50_000) {
      continue;
    }
    const resource = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Resource;
    if (!resource.resourceType || resource.resourceType === 'Bundle') {
      continue;
    }
    const fast = sorted(computeSearchRowsWith(resource, true));
    const slow = sorted(computeSearchRowsWith(resource, false));
    for (const table of Object.keys(fast)) {
      const a = fast[table].filter((r) => !slow[table].includes(r));
      const b = slow[table].filter((r) => !fast[table].includes(r));
      if (b.length || a.some((row) => !isKnownImprovement(file, table, row))) {
        diffs.push(
          `${file} ${table} fast-only=${a.join(' ').slice(0, 300)} fhirpath-only=${b.join(' ').slice(0, 300)}`
        );
      }
    }
    checked++;
  }
  expect(diffs).toEqual([]);
  expect(checked).toBeGreaterThan(1000);
});
