/**
 * Search values of one resource, one array per index table (see migrations/*_fhir-storage.sql).
 * They are computed at write time from the SearchParameter expressions and replace the
 * previous version's rows in the same statement that writes the resource.
 */
export interface SearchRows {
  token: TokenRow[];
  string: StringRow[];
  date: DateRow[];
  number: NumberRow[];
  quantity: QuantityRow[];
  reference: ReferenceRow[];
  uri: UriRow[];
}

/** Coded values and identifiers; `text` is the lower-cased display text used by `:text`. */
export interface TokenRow {
  code: string;
  system: string | null;
  value: string | null;
  text: string | null;
}

/**
 * `value` as written; `norm` lower-cased with accents removed, for prefix and `:contains` search.
 * `whole` is false for a part of a HumanName or Address: prefix search matches every part, while
 * `:contains` only needs the whole value, which contains its parts. `part` names the element a
 * part came from (`family`, `city`), so that `family` or `address-city` can search these rows.
 */
export interface StringRow {
  code: string;
  value: string;
  norm: string;
  whole: boolean;
  part: string | null;
}

/** Every date, dateTime, instant and Period is stored as the range it covers (ISO strings). */
export interface DateRow {
  code: string;
  start: string;
  end: string;
}

/** `low`/`high` are the bounds implied by the value's precision (FHIR search "eq" semantics). */
export interface NumberRow {
  code: string;
  value: string;
  low: string;
  high: string;
}

export interface QuantityRow extends NumberRow {
  system: string | null;
  unit: string | null;
}

/** `reference` is the reference string as written; type/id are set when it names a resource. */
export interface ReferenceRow {
  code: string;
  targetType: string | null;
  targetId: string | null;
  reference: string;
}

export interface UriRow {
  code: string;
  value: string;
}

export function emptySearchRows(): SearchRows {
  return { token: [], string: [], date: [], number: [], quantity: [], reference: [], uri: [] };
}
