import { randomUUID } from 'node:crypto';
import { allOk, badRequest, notFound, OperationOutcomeError, Operator } from '@medplum/core';
import type { FhirRepository, FhirRequest, FhirRouteHandler, FhirRouter } from '@medplum/fhir-router';
import type { OperationOutcome, Parameters, ValueSet, ValueSetExpansionParameter } from '@medplum/fhirtypes';
import type { LocalValueSet } from '../validation/value-sets.js';
import { expandValueSetResource, findLocalValueSet, getLocalValueSet } from '../validation/value-sets.js';

/** The most codes one call returns; larger value sets are paged with `offset`. */
const MAX_COUNT = 1000;

interface ExpandInput {
  url: string;
  filter?: string;
  count: number;
  offset: number;
}

/**
 * `ValueSet/$expand` (GET with query parameters, or POST with a Parameters body): the codes of the
 * value set named by `url`, optionally narrowed by `filter` (a case-insensitive substring of the
 * code or display) and paged with `count`/`offset`. Value sets come from the R4 and Medplum
 * terminology shipped with the server (the same content the required-binding check uses), then
 * from ValueSets stored on the server. `@medplum/react` calls it for coded form fields.
 * @see https://hl7.org/fhir/R4/valueset-operation-expand.html
 */
export const expandOperation: FhirRouteHandler = async (req, repo) => {
  const input = readExpandInput(req);
  const valueSet = getLocalValueSet(input.url) ?? (await expandStoredValueSet(repo, input.url));
  const lowered = input.filter?.toLowerCase();
  const matches = lowered
    ? valueSet.contains.filter(
        (c) => c.code.toLowerCase().includes(lowered) || c.display?.toLowerCase().includes(lowered)
      )
    : valueSet.contains;
  return [allOk, toExpansion(valueSet, input, matches.length, matches.slice(input.offset, input.offset + input.count))];
};

/** Adds `ValueSet/$expand` (GET and POST) to a FhirRouter. */
export function registerExpandOperation(router: FhirRouter): void {
  router.add('GET', 'ValueSet/$expand', expandOperation);
  router.add('POST', 'ValueSet/$expand', expandOperation);
}

function readExpandInput(req: FhirRequest): ExpandInput {
  const body = req.body as Parameters | undefined;
  const fromBody = (name: string) => body?.parameter?.find((p) => p.name === name);
  const fromQuery = (name: string) => {
    const value = req.query?.[name];
    return Array.isArray(value) ? value[0] : value;
  };
  const url = fromBody('url')?.valueUri ?? fromBody('url')?.valueCanonical ?? fromQuery('url');
  if (!url) {
    throw new OperationOutcomeError(badRequest('Missing required parameter "url"', 'url'));
  }
  const filter = fromBody('filter')?.valueString ?? fromQuery('filter');
  const count = fromBody('count')?.valueInteger ?? parseNonNegative(fromQuery('count'), 'count') ?? MAX_COUNT;
  const offset = fromBody('offset')?.valueInteger ?? parseNonNegative(fromQuery('offset'), 'offset') ?? 0;
  if (count < 0 || offset < 0) {
    throw new OperationOutcomeError(badRequest('count and offset must not be negative'));
  }
  return { url, filter: filter || undefined, count: Math.min(count, MAX_COUNT), offset };
}

function parseNonNegative(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') {
    return undefined;
  }
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) {
    throw new OperationOutcomeError(badRequest(`Parameter "${name}" must be a non-negative integer`, name));
  }
  return n;
}

/** A ValueSet stored on the server (read through the caller's repository, so access rules apply). */
async function expandStoredValueSet(repo: FhirRepository, canonical: string): Promise<LocalValueSet> {
  const [url, version] = canonical.split('|');
  const filters = [{ code: 'url', operator: Operator.EQUALS, value: url }];
  if (version) {
    filters.push({ code: 'version', operator: Operator.EQUALS, value: version });
  }
  const stored = await repo.searchOne<ValueSet>({ resourceType: 'ValueSet', filters });
  const valueSet = stored ?? findLocalValueSet(canonical);
  if (!valueSet) {
    throw new OperationOutcomeError(notFound);
  }
  const expanded = expandValueSetResource(valueSet);
  if (!expanded) {
    throw new OperationOutcomeError(notExpandable(canonical));
  }
  return expanded;
}

/** Known, but it draws on a code system this server cannot enumerate (UCUM, SNOMED CT, BCP-47, …). */
function notExpandable(url: string): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: 'not-supported',
        details: { text: `ValueSet ${url} uses a code system this server cannot expand (external or grammar-based)` },
        expression: ['url'],
      },
    ],
  };
}

function toExpansion(
  source: LocalValueSet,
  input: ExpandInput,
  total: number,
  page: LocalValueSet['contains']
): ValueSet {
  const { valueSet } = source;
  const parameter: ValueSetExpansionParameter[] = [
    { name: 'count', valueInteger: input.count },
    { name: 'offset', valueInteger: input.offset },
  ];
  if (input.filter) {
    parameter.unshift({ name: 'filter', valueString: input.filter });
  }
  return {
    resourceType: 'ValueSet',
    id: valueSet.id,
    url: valueSet.url,
    version: valueSet.version,
    name: valueSet.name,
    title: valueSet.title,
    status: valueSet.status ?? 'active',
    expansion: {
      identifier: `urn:uuid:${randomUUID()}`,
      timestamp: new Date().toISOString(),
      total,
      offset: input.offset,
      parameter,
      contains: page.map(({ system, code, display }) => ({ system, code, display })),
    },
  };
}
