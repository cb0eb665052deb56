import type { TypedValue } from '@medplum/core';
import type {
  Address,
  CodeableConcept,
  Coding,
  ContactPoint,
  HumanName,
  Identifier,
  Money,
  Period,
  Quantity,
  Range,
  Reference,
  Timing,
} from '@medplum/fhirtypes';
import { parseDateRange } from './date-range.js';
import { numberRange } from './number-range.js';
import { parseReferenceTarget } from './reference-string.js';
import { emptySearchRows, type SearchRows, type StringRow } from './rows.js';
import { MAX_INDEXED_CHARS, MAX_STRING_VALUE_CHARS, normalizeString, truncate } from './text.js';

/** The SearchParameter types that have an index table (composite and special do not). */
export type IndexedParamType = 'token' | 'string' | 'date' | 'number' | 'quantity' | 'reference' | 'uri';

const NUMERIC_MIN = '-Infinity';
const NUMERIC_MAX = 'Infinity';

/** Suffix of the token rows that make `reference:identifier=system|value` searchable. */
export const IDENTIFIER_SUFFIX = ':identifier';

/** The parts of a name or address that string search matches one by one, in the order written. */
export const PART_ELEMENTS: Record<'HumanName' | 'Address', string[]> = {
  HumanName: ['prefix', 'given', 'family', 'suffix'],
  Address: ['line', 'city', 'district', 'state', 'postalCode', 'country'],
};

/** Accumulates one resource's search rows, dropping exact duplicates as they arrive. */
export class RowCollector {
  readonly rows: SearchRows = emptySearchRows();
  private readonly seen = new Set<string>();
  private readonly strings = new Map<string, StringRow[]>();

  /** Adds the rows for one value produced by a SearchParameter expression. */
  add(code: string, type: IndexedParamType, tv: TypedValue): void {
    if (tv.value === undefined || tv.value === null) {
      return;
    }
    switch (type) {
      case 'token':
        this.addToken(code, tv);
        break;
      case 'string':
        this.addStringValue(code, tv);
        break;
      case 'date':
        this.addDateValue(code, tv);
        break;
      case 'number':
        this.addNumber(code, tv);
        break;
      case 'quantity':
        this.addQuantityValue(code, tv);
        break;
      case 'reference':
        this.addReferenceValue(code, tv);
        break;
      case 'uri':
        if (typeof tv.value === 'string') {
          this.push('u', [code, tv.value], () => this.rows.uri.push({ code, value: truncate(tv.value) }));
        }
    }
  }

  private push(table: string, key: (string | null | undefined)[], add: () => void): void {
    const k = `${table}\u0001${key.join('\u0001')}`;
    if (!this.seen.has(k)) {
      this.seen.add(k);
      add();
    }
  }

  token(code: string, system: string | undefined, value: string | undefined, text: string | undefined): void {
    const row = {
      code,
      system: system ? truncate(system) : null,
      value: value ? truncate(value) : null,
      text: text ? truncate(text.toLowerCase()) : null,
    };
    if (row.value === null && row.text === null && row.system === null) {
      return;
    }
    this.push('t', [code, row.system, row.value, row.text], () => this.rows.token.push(row));
  }

  private addToken(code: string, tv: TypedValue): void {
    const v = tv.value;
    switch (tv.type) {
      case 'Coding':
        this.addCoding(code, v as Coding, undefined);
        break;
      case 'CodeableConcept':
        this.addCodeableConcept(code, v as CodeableConcept);
        break;
      case 'Identifier': {
        const id = v as Identifier;
        this.token(code, id.system, id.value, id.type?.text);
        return;
      }
      case 'ContactPoint': {
        const cp = v as ContactPoint;
        this.token(code, cp.system, cp.value, undefined);
        return;
      }
      case 'Reference':
        this.token(code, undefined, (v as Reference).reference, (v as Reference).display);
        break;
      default:
        if (typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number') {
          this.token(code, undefined, String(v), undefined);
        }
    }
  }

  private addCoding(code: string, coding: Coding, fallbackText: string | undefined): void {
    this.token(code, coding.system, coding.code, coding.display ?? fallbackText);
  }

  private addCodeableConcept(code: string, cc: CodeableConcept): void {
    for (const coding of cc.coding ?? []) {
      this.addCoding(code, coding, cc.text);
    }
    // CodeableConcept.text must be findable by :text even when every coding has its own display.
    if (cc.text && !cc.coding?.some((c) => (c.display ?? cc.text) === cc.text)) {
      this.token(code, undefined, undefined, cc.text);
    }
  }

  /**
   * One row per distinct string value of a parameter. `whole = false` for a part of a name or
   * address, `part` names its element (see StringRow). A value met twice keeps one row, which is
   * whole if either was and takes the part name when it had none; different parts stay apart.
   */
  string(code: string, value: string | undefined, whole = true, part: string | null = null): void {
    // A FHIRPath result may be a number or boolean where the parameter is a string: index its text.
    if (typeof value === 'number' || typeof value === 'boolean') {
      value = String(value);
    }
    if (!value || typeof value !== 'string') {
      return;
    }
    const stored = truncate(value, MAX_STRING_VALUE_CHARS);
    const key = `${code}\u0001${stored}`;
    const same = this.strings.get(key) ?? [];
    const row = part === null ? same[0] : (same.find((r) => r.part === part) ?? same.find((r) => r.part === null));
    if (row) {
      row.whole ||= whole;
      row.part ??= part;
      return;
    }
    const added = { code, value: stored, norm: normalizeString(value), whole, part };
    this.strings.set(key, [...same, added]);
    this.rows.string.push(added);
  }

  private addStringValue(code: string, tv: TypedValue): void {
    const v = tv.value;
    if (tv.type === 'HumanName' || tv.type === 'Address') {
      const record = v as Record<string, string | string[] | undefined>;
      const parts = PART_ELEMENTS[tv.type].flatMap((name) => [record[name] ?? []].flat().map((p) => [name, p]));
      this.addParts(code, parts, (v as HumanName | Address).text, tv.type === 'HumanName' ? ' ' : ', ');
    } else if (typeof v === 'string') {
      this.string(code, v);
    }
  }

  /**
   * Each part is searchable on its own (prefix match), and so is the full text. Parts are not
   * whole values unless the joined text is too long to be indexed in full.
   */
  private addParts(code: string, parts: string[][], text: string | undefined, separator: string): void {
    const present = parts.filter(([, value]) => !!value);
    const joined = present.map(([, value]) => value).join(separator);
    const partsWhole = normalizeString(joined).length >= MAX_INDEXED_CHARS;
    for (const [name, value] of present) {
      this.string(code, value, partsWhole, name);
    }
    this.string(code, text);
    this.string(code, joined);
  }

  date(code: string, start: string, end: string): void {
    this.push('d', [code, start, end], () => this.rows.date.push({ code, start, end }));
  }

  private addDateValue(code: string, tv: TypedValue): void {
    const v = tv.value;
    if (typeof v === 'string') {
      const range = parseDateRange(v);
      if (range) {
        this.date(code, range.start, range.end);
      }
    } else if (tv.type === 'Period') {
      this.addPeriod(code, v as Period);
    } else if (tv.type === 'Timing') {
      const timing = v as Timing;
      for (const event of timing.event ?? []) {
        this.addDateValue(code, { type: 'dateTime', value: event });
      }
      if (timing.repeat?.boundsPeriod) {
        this.addPeriod(code, timing.repeat.boundsPeriod);
      }
    }
  }

  /** A Period with a missing end is ongoing: it runs to infinity (and from -infinity). */
  private addPeriod(code: string, period: Period): void {
    const start = period.start ? parseDateRange(period.start)?.start : '-infinity';
    const end = period.end ? parseDateRange(period.end)?.end : 'infinity';
    if (start && end && (period.start || period.end)) {
      this.date(code, start, end);
    }
  }

  private addNumber(code: string, tv: TypedValue): void {
    if (typeof tv.value === 'number') {
      const range = numberRange(tv.value);
      if (range) {
        const row = { code, ...range };
        this.push('n', [code, range.value], () => this.rows.number.push(row));
      }
    }
  }

  quantity(code: string, value: number | undefined, system: string | undefined, unit: string | undefined): void {
    const range = value === undefined ? undefined : numberRange(value);
    if (range) {
      this.quantityRange(code, range.value, range.low, range.high, system, unit);
    }
  }

  private quantityRange(code: string, value: string, low: string, high: string, system?: string, unit?: string): void {
    const row = { code, value, low, high, system: system ?? null, unit: unit ?? null };
    this.push('q', [code, value, low, high, row.system, row.unit], () => this.rows.quantity.push(row));
  }

  private addQuantityValue(code: string, tv: TypedValue): void {
    const v = tv.value;
    if (typeof v === 'number') {
      this.quantity(code, v, undefined, undefined);
      return;
    }
    if (tv.type === 'Money') {
      const money = v as Money;
      this.quantity(code, money.value, 'urn:iso:std:iso:4217', money.currency);
      return;
    }
    if (tv.type === 'Range') {
      this.addRange(code, v as Range);
      return;
    }
    const q = v as Quantity;
    if (typeof q !== 'object' || q.value === undefined) {
      return;
    }
    this.quantity(code, q.value, q.system, q.code ?? q.unit);
    // `value||unit` searches match the human unit too when it differs from the code.
    if (q.code && q.unit && q.unit !== q.code) {
      this.quantity(code, q.value, undefined, q.unit);
    }
  }

  private addRange(code: string, range: Range): void {
    const low = range.low?.value === undefined ? undefined : numberRange(range.low.value);
    const high = range.high?.value === undefined ? undefined : numberRange(range.high.value);
    const value = low?.value ?? high?.value;
    const unitSource = range.low ?? range.high;
    if (value !== undefined) {
      const unit = unitSource?.code ?? unitSource?.unit;
      this.quantityRange(code, value, low?.low ?? NUMERIC_MIN, high?.high ?? NUMERIC_MAX, unitSource?.system, unit);
    }
  }

  reference(code: string, reference: string, targetType: string | null, targetId: string | null): void {
    const row = { code, targetType, targetId, reference: truncate(reference) };
    this.push('r', [code, row.reference], () => this.rows.reference.push(row));
  }

  private addReferenceValue(code: string, tv: TypedValue): void {
    const v = tv.value;
    if (typeof v === 'string') {
      // canonical/uri targets: matched by URL, with and without the |version suffix
      this.reference(code, v, null, null);
      const bar = v.indexOf('|');
      if (bar > 0) {
        this.reference(code, v.slice(0, bar), null, null);
      }
      return;
    }
    if (tv.type !== 'Reference') {
      return;
    }
    const ref = v as Reference;
    // Only a string names a target (the fuzzer got a non-string past validation once, in an element it did not print).
    if (typeof ref.reference === 'string' && ref.reference) {
      const target = parseReferenceTarget(ref.reference);
      this.reference(code, ref.reference, target?.type ?? null, target?.id ?? null);
    }
    this.addReferenceIdentifier(code, tv);
  }

  /** The token row that makes `code:identifier=system|value` find a Reference by its identifier. */
  addReferenceIdentifier(code: string, tv: TypedValue): void {
    const identifier = tv.type === 'Reference' ? (tv.value as Reference | undefined)?.identifier : undefined;
    if (identifier) {
      this.token(code + IDENTIFIER_SUFFIX, identifier.system, identifier.value, undefined);
    }
  }
}
