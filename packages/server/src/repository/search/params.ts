import { type FhirPathAtom, getSearchParameters, parseFhirPath, splitSearchOnComma } from '@medplum/core';
import type { SearchParameter } from '@medplum/fhirtypes';
import { badSearch } from './sql.js';

/** Value prefixes of number, date and quantity parameters (https://hl7.org/fhir/R4/search.html#prefix). */
export type Prefix = 'eq' | 'ne' | 'gt' | 'lt' | 'ge' | 'le' | 'sa' | 'eb' | 'ap';
export const PREFIXES: ReadonlySet<string> = new Set(['eq', 'ne', 'gt', 'lt', 'ge', 'le', 'sa', 'eb', 'ap']);

/** One filter on one parameter, resolved against a resource type. `value` is raw (may hold commas and prefixes). */
export interface Condition {
  param: SearchParameter;
  /** Modifier after the colon (`exact`, `not`, `missing`, …) or a resource type for references. */
  modifier: string | undefined;
  value: string;
}

/** The type's search parameter named `code`; never a key inherited from Object.prototype (`__proto__`, `constructor`). */
export function findParam(resourceType: string, code: string): SearchParameter | undefined {
  const params = getSearchParameters(resourceType);
  return params && Object.hasOwn(params, code) ? params[code] : undefined;
}

/** Splits an OR list (`a,b\,c`) into its values, dropping empty ones. */
export function splitValues(value: string): string[] {
  return splitSearchOnComma(value).filter((v) => v !== '');
}

/** `ge2024` → ['ge', '2024']; no prefix → 'eq'. */
export function splitPrefix(value: string): [Prefix, string] {
  const head = value.slice(0, 2);
  return PREFIXES.has(head) ? [head as Prefix, value.slice(2)] : ['eq', value];
}

export interface CompositeComponent {
  param: SearchParameter;
  expression: FhirPathAtom;
}

const componentCache = new WeakMap<SearchParameter, CompositeComponent[]>();

/** The component parameters of a composite, found by their canonical URL among the type's parameters. */
export function getCompositeComponents(resourceType: string, composite: SearchParameter): CompositeComponent[] {
  const cached = componentCache.get(composite);
  if (cached) {
    return cached;
  }
  const byUrl = new Map(Object.values(getSearchParameters(resourceType) ?? {}).map((sp) => [sp.url, sp]));
  const components = (composite.component ?? []).map((c) => {
    const param = byUrl.get(c.definition);
    const expression = param && tryParse(c.expression);
    if (
      !param ||
      !expression ||
      !['token', 'string', 'date', 'number', 'quantity', 'reference', 'uri'].includes(param.type)
    ) {
      throw badSearch(`Composite search parameter ${composite.code} is not supported`);
    }
    return { param, expression };
  });
  componentCache.set(composite, components);
  return components;
}

function tryParse(expression: string): FhirPathAtom | undefined {
  try {
    return parseFhirPath(expression);
  } catch {
    return undefined;
  }
}
