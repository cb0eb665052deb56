// Quiet hours: the local hours of a project during which non-urgent messages wait (issue 10 §4).
import { instantsOfWallTime, wallTimeAt, wallTimeOnDay } from './zoned-time.js';

/** A daily window in minutes after local midnight; `start > end` crosses midnight, `start === end` is no window. */
export interface QuietHours {
  start: number;
  end: number;
}

/** 21:00–07:00 local, the default for a project that sets none. */
export const DEFAULT_QUIET_HOURS: QuietHours = { start: 21 * 60, end: 7 * 60 };

/** Parses `HH:MM` (24-hour) into minutes after midnight, or undefined. */
export function parseClockTime(text: string): number | undefined {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text.trim());
  return m ? Number(m[1]) * 60 + Number(m[2]) : undefined;
}

/** Parses a configured window like `{start: "21:00", end: "07:00"}`, or undefined when either end is not HH:MM. */
export function parseQuietHours(start: string, end: string): QuietHours | undefined {
  const s = parseClockTime(start);
  const e = parseClockTime(end);
  return s === undefined || e === undefined ? undefined : { start: s, end: e };
}

/** True when minute-of-day `minute` falls in the window (start inclusive, end exclusive). */
function inWindow(minute: number, q: QuietHours): boolean {
  if (q.start === q.end) return false;
  return q.start < q.end ? minute >= q.start && minute < q.end : minute >= q.start || minute < q.end;
}

/** True when `now` is inside the quiet hours of `timeZone` (an IANA name, e.g. Africa/Nairobi). */
export function isQuietTime(now: Date, quietHours: QuietHours, timeZone: string): boolean {
  const w = wallTimeAt(now.getTime(), timeZone);
  return inWindow(w.hour * 60 + w.minute, quietHours);
}

/** When a message may go: `now` if urgent or outside quiet hours, else the local end of the window. */
export function nextSendTime(now: Date, quietHours: QuietHours, timeZone: string, urgent: boolean): Date {
  if (urgent) return now;
  const w = wallTimeAt(now.getTime(), timeZone);
  const minute = w.hour * 60 + w.minute;
  if (!inWindow(minute, quietHours)) return now;
  // Before midnight in a window that crosses it, the window ends tomorrow.
  const days = quietHours.start > quietHours.end && minute >= quietHours.start ? 1 : 0;
  const end = wallTimeOnDay(w, days, Math.floor(quietHours.end / 60), quietHours.end % 60);
  // After clocks go back the end happens twice; the first still ahead is the one that ends this window.
  const at = instantsOfWallTime(end, timeZone).find((t) => t > now.getTime());
  return at === undefined ? now : new Date(at);
}
