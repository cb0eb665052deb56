import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_QUIET_HOURS, isQuietTime, nextSendTime, parseClockTime, parseQuietHours } from './quiet-hours.js';

const at = (iso: string) => new Date(iso);
const NAIROBI = 'Africa/Nairobi'; // UTC+3, no DST

describe('parseQuietHours', () => {
  it('reads HH:MM and refuses anything else', () => {
    expect(parseQuietHours('21:00', '07:00')).toEqual(DEFAULT_QUIET_HOURS);
    expect(parseClockTime('23:59')).toBe(1439);
    for (const bad of ['24:00', '7:00', '07:60', '0700', '']) expect(parseClockTime(bad)).toBeUndefined();
    expect(parseQuietHours('21:00', 'x')).toBeUndefined();
  });
});

describe('nextSendTime', () => {
  it('sends now outside quiet hours', () => {
    const now = at('2026-03-02T09:00:00Z'); // 12:00 in Nairobi
    expect(nextSendTime(now, DEFAULT_QUIET_HOURS, NAIROBI, false)).toBe(now);
    expect(nextSendTime(at('2026-03-02T17:59:59Z'), DEFAULT_QUIET_HOURS, NAIROBI, false)).toEqual(
      at('2026-03-02T17:59:59Z')
    );
  });

  it('waits from the evening until 07:00 the next morning, across midnight', () => {
    expect(nextSendTime(at('2026-03-02T18:00:00Z'), DEFAULT_QUIET_HOURS, NAIROBI, false)).toEqual(
      at('2026-03-03T04:00:00Z')
    );
    // 23:30 on the last day of the month and year.
    expect(nextSendTime(at('2026-12-31T20:30:00Z'), DEFAULT_QUIET_HOURS, NAIROBI, false)).toEqual(
      at('2027-01-01T04:00:00Z')
    );
  });

  it('waits after midnight until 07:00 the same day', () => {
    expect(nextSendTime(at('2026-03-02T22:00:00Z'), DEFAULT_QUIET_HOURS, NAIROBI, false)).toEqual(
      at('2026-03-03T04:00:00Z')
    );
    expect(nextSendTime(at('2026-03-03T03:59:30Z'), DEFAULT_QUIET_HOURS, NAIROBI, false)).toEqual(
      at('2026-03-03T04:00:00Z')
    );
  });

  it('sends urgent messages now, even in quiet hours', () => {
    const now = at('2026-03-02T20:00:00Z');
    expect(nextSendTime(now, DEFAULT_QUIET_HOURS, NAIROBI, true)).toBe(now);
  });

  it('handles a window within one day, and no window', () => {
    const lunch = { start: 12 * 60, end: 14 * 60 };
    expect(nextSendTime(at('2026-03-02T10:15:00Z'), lunch, NAIROBI, false)).toEqual(at('2026-03-02T11:00:00Z'));
    expect(nextSendTime(at('2026-03-02T11:00:00Z'), lunch, NAIROBI, false)).toEqual(at('2026-03-02T11:00:00Z'));
    const none = { start: 0, end: 0 };
    expect(nextSendTime(at('2026-03-02T10:15:00Z'), none, NAIROBI, false)).toEqual(at('2026-03-02T10:15:00Z'));
  });

  it('follows local time across the Europe/London DST changes', () => {
    // Clocks forward 30 Mar 2025 01:00 GMT: 07:00 that morning is 06:00 UTC.
    expect(nextSendTime(at('2025-03-29T22:00:00Z'), DEFAULT_QUIET_HOURS, 'Europe/London', false)).toEqual(
      at('2025-03-30T06:00:00Z')
    );
    // Clocks back 26 Oct 2025 02:00 BST: 21:00 BST the evening before is 20:00 UTC; 07:00 GMT is 07:00 UTC.
    expect(isQuietTime(at('2025-10-25T19:59:00Z'), DEFAULT_QUIET_HOURS, 'Europe/London')).toBe(false);
    expect(nextSendTime(at('2025-10-25T20:00:00Z'), DEFAULT_QUIET_HOURS, 'Europe/London', false)).toEqual(
      at('2025-10-26T07:00:00Z')
    );
  });

  it('ends a window whose end the clocks skip at the jump', () => {
    const q = { start: 0, end: 90 }; // 00:00–01:30; 01:30 does not exist on 30 Mar 2025 in London
    expect(nextSendTime(at('2025-03-30T00:10:00Z'), q, 'Europe/London', false)).toEqual(at('2025-03-30T01:00:00Z'));
  });

  it('ends a window whose end happens twice at the next one', () => {
    const q = { start: 0, end: 90 }; // 01:30 happens at 00:30 UTC (BST) and 01:30 UTC (GMT) on 26 Oct 2025
    expect(nextSendTime(at('2025-10-26T00:10:00Z'), q, 'Europe/London', false)).toEqual(at('2025-10-26T00:30:00Z'));
    expect(nextSendTime(at('2025-10-26T01:10:00Z'), q, 'Europe/London', false)).toEqual(at('2025-10-26T01:30:00Z'));
  });

  it('always answers the first allowed minute at or after now', () => {
    const zones = ['Africa/Nairobi', 'Europe/London', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu'];
    fc.assert(
      fc.property(
        fc.integer({ min: Date.parse('2024-01-01T00:00:00Z'), max: Date.parse('2027-01-01T00:00:00Z') }),
        fc.integer({ min: 0, max: 1439 }),
        fc.integer({ min: 0, max: 1439 }),
        fc.constantFrom(...zones),
        (nowMs, start, end, zone) => {
          const now = new Date(nowMs);
          const q = { start, end };
          const next = nextSendTime(now, q, zone, false);
          expect(next.getTime()).toBeGreaterThanOrEqual(nowMs);
          expect(next.getTime() - nowMs).toBeLessThanOrEqual(25 * 3_600_000);
          expect(isQuietTime(next, q, zone)).toBe(false);
          if (!isQuietTime(now, q, zone)) expect(next).toBe(now);
          // Minimal: the minute before the answer was still quiet.
          else expect(isQuietTime(new Date(next.getTime() - 60_000), q, zone)).toBe(true);
        }
      ),
      { numRuns: 2000 }
    );
  });
});
