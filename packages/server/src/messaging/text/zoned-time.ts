// Wall-clock time in an IANA time zone with Intl only (no time-zone library).
// https://tc39.es/ecma402/#datetimeformat-objects

/** A local date and time of day, as a clock on the wall of the zone shows it. */
export interface WallTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** One cached formatter per zone: building them is the costly part. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/** True when Intl knows `timeZone` (check at configuration load, not per message). */
export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall time at instant `epochMs` in `timeZone`; seconds are dropped. */
export function wallTimeAt(epochMs: number, timeZone: string): WallTime {
  const parts: Record<string, number> = {};
  for (const p of formatterFor(timeZone).formatToParts(epochMs)) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return { year: parts.year, month: parts.month, day: parts.day, hour: parts.hour, minute: parts.minute };
}

/** Offset of `timeZone` from UTC at instant `epochMs`, in ms (whole minutes). */
function offsetAt(epochMs: number, timeZone: string): number {
  const w = wallTimeAt(epochMs, timeZone);
  const floored = epochMs - (((epochMs % 60_000) + 60_000) % 60_000);
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute) - floored;
}

/** The wall time as if it were UTC, in ms; also normalises overflow (day 32 → next month). */
function asUtc(w: WallTime): number {
  return Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute);
}

/** The instants a wall time happens in `timeZone`, ascending: one, two when clocks go back, or, when clocks skip it, the instant of the jump (the first whose wall time is later). https://tc39.es/proposal-temporal/docs/zoneddatetime.html#ambiguity */
export function instantsOfWallTime(w: WallTime, timeZone: string): number[] {
  const local = asUtc(w);
  const day = 86_400_000;
  // Offsets a day either side cover one transition; zones never change twice in two days.
  const before = offsetAt(local - day, timeZone);
  const after = offsetAt(local + day, timeZone);
  const matches = [...new Set([local - before, local - after])]
    .filter((t) => offsetAt(t, timeZone) === local - t)
    .sort((a, b) => a - b);
  if (matches.length > 0) return matches;
  // Skipped: the jump lies between the two readings; find its minute by bisection.
  let lo = local - after; // still on the old offset
  let hi = local - before; // already on the new one
  while (hi - lo > 60_000) {
    const mid = lo + Math.max(1, Math.floor((hi - lo) / 120_000)) * 60_000;
    if (mid >= hi) break;
    if (offsetAt(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  return [hi];
}

/** The wall date `days` after `w`'s date, at hour:minute. */
export function wallTimeOnDay(w: WallTime, days: number, hour: number, minute: number): WallTime {
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day + days));
  return { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour, minute };
}
