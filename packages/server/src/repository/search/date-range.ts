/**
 * FHIR dates as the instant ranges they cover, used both for index rows and for search values.
 * A partial date covers its whole precision: `2024-05` is 2024-05-01T00:00:00.000Z through
 * 2024-05-31T23:59:59.999Z. See https://hl7.org/fhir/R4/search.html#date
 */

/** Open ends of a Period; PostgreSQL's timestamptz accepts these literals. */
export const MIN_INSTANT = '-infinity';
export const MAX_INSTANT = 'infinity';

export interface DateRange {
  start: string;
  end: string;
}

// Year, month, day, hour, minute, second, fraction, zone. Minutes without seconds are allowed
// because search values may stop at the minute (FHIR search spec), stored data never does.
const DATE_PATTERN =
  /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

const YEAR_1 = utcMs(1, 1, 1, 0, 0, 0, 0);
const YEAR_10000 = utcMs(10000, 1, 1, 0, 0, 0, 0);

/** Parses a date, dateTime or instant (or a search value) into its range; undefined if invalid. */
export function parseDateRange(text: string): DateRange | undefined {
  const m = DATE_PATTERN.exec(text);
  if (!m) {
    return undefined;
  }
  const year = Number(m[1]);
  const month = m[2] ? Number(m[2]) : undefined;
  const day = m[3] ? Number(m[3]) : undefined;
  if (year < 1 || (month !== undefined && (month < 1 || month > 12))) {
    return undefined;
  }
  if (month === undefined) {
    return { start: iso(utcMs(year, 1, 1, 0, 0, 0, 0)), end: iso(utcMs(year + 1, 1, 1, 0, 0, 0, 0) - 1) };
  }
  if (day === undefined) {
    return { start: iso(utcMs(year, month, 1, 0, 0, 0, 0)), end: iso(utcMs(year, month + 1, 1, 0, 0, 0, 0) - 1) };
  }
  if (day < 1 || day > daysInMonth(year, month)) {
    return undefined;
  }
  if (m[4] === undefined) {
    return { start: iso(utcMs(year, month, day, 0, 0, 0, 0)), end: iso(utcMs(year, month, day + 1, 0, 0, 0, 0) - 1) };
  }
  return parseTimeRange(year, month, day, m);
}

function parseTimeRange(year: number, month: number, day: number, m: RegExpExecArray): DateRange | undefined {
  const hour = Number(m[4]);
  const minute = Number(m[5]);
  const second = m[6] === undefined ? undefined : Number(m[6]);
  if (hour > 23 || minute > 59 || (second !== undefined && second > 59)) {
    return undefined;
  }
  const offset = m[8] ? parseOffset(m[8]) : 0;
  if (offset === undefined) {
    return undefined;
  }
  const fraction = m[7] ?? '';
  const ms = fraction ? Number(fraction.slice(0, 3).padEnd(3, '0')) : 0;
  const start = utcMs(year, month, day, hour, minute, second ?? 0, ms) - offset;
  // The range spans the precision written: a minute, a second, or the stated fraction digits.
  let span: number;
  if (second === undefined) {
    span = 60_000;
  } else if (fraction.length < 3) {
    span = 10 ** (3 - fraction.length);
  } else {
    span = 1;
  }
  return { start: iso(start), end: iso(start + span - 1) };
}

function parseOffset(zone: string): number | undefined {
  if (zone === 'Z') {
    return 0;
  }
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (hours > 14 || minutes > 59) {
    return undefined;
  }
  const ms = (hours * 60 + minutes) * 60_000;
  return zone.startsWith('-') ? -ms : ms;
}

function utcMs(year: number, month: number, day: number, h: number, mi: number, s: number, ms: number): number {
  // Date.UTC maps years 0..99 to 1900..1999, so set the full year explicitly.
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day);
  d.setUTCHours(h, mi, s, ms);
  return d.getTime();
}

function daysInMonth(year: number, month: number): number {
  return new Date(utcMs(year, month + 1, 1, 0, 0, 0, 0) - 1).getUTCDate();
}

/** ISO instant; values pushed outside years 1..9999 by a zone offset become open ends. */
function iso(ms: number): string {
  if (ms < YEAR_1) {
    return MIN_INSTANT;
  }
  if (ms >= YEAR_10000) {
    return MAX_INSTANT;
  }
  return new Date(ms).toISOString();
}

/** Orders two range bounds (ISO strings or the infinity literals) like PostgreSQL does. */
export function compareInstants(a: string, b: string): number {
  return rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
}

function rank(value: string): number {
  if (value === MIN_INSTANT) {
    return -1;
  }
  return value === MAX_INSTANT ? 1 : 0;
}
