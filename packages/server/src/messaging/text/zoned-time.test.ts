import { describe, expect, it } from 'vitest';
import { instantsOfWallTime, isValidTimeZone, wallTimeAt, wallTimeOnDay } from './zoned-time.js';

const utc = (iso: string) => Date.parse(iso);

describe('wallTimeAt', () => {
  it('reads the local clock of a zone', () => {
    expect(wallTimeAt(utc('2026-03-01T21:30:59Z'), 'Africa/Nairobi')).toEqual({
      year: 2026,
      month: 3,
      day: 2,
      hour: 0,
      minute: 30,
    });
    expect(wallTimeAt(utc('2026-07-01T12:00:00Z'), 'Europe/London').hour).toBe(13);
    expect(wallTimeAt(utc('2026-01-01T12:00:00Z'), 'Asia/Kathmandu')).toMatchObject({ hour: 17, minute: 45 });
  });
});

describe('instantsOfWallTime', () => {
  it('finds the one instant of an ordinary wall time', () => {
    expect(instantsOfWallTime({ year: 2026, month: 3, day: 2, hour: 7, minute: 0 }, 'Africa/Nairobi')).toEqual([
      utc('2026-03-02T04:00:00Z'),
    ]);
  });

  it('finds both instants of a wall time repeated when clocks go back', () => {
    // Europe/London, 26 Oct 2025: 02:00 BST became 01:00 GMT.
    expect(instantsOfWallTime({ year: 2025, month: 10, day: 26, hour: 1, minute: 30 }, 'Europe/London')).toEqual([
      utc('2025-10-26T00:30:00Z'),
      utc('2025-10-26T01:30:00Z'),
    ]);
  });

  it('gives the instant of the jump for a wall time skipped when clocks go forward', () => {
    // Europe/London, 30 Mar 2025: 01:00 GMT became 02:00 BST.
    expect(instantsOfWallTime({ year: 2025, month: 3, day: 30, hour: 1, minute: 30 }, 'Europe/London')).toEqual([
      utc('2025-03-30T01:00:00Z'),
    ]);
  });
});

describe('wallTimeOnDay', () => {
  it('rolls over months and years', () => {
    expect(wallTimeOnDay({ year: 2025, month: 12, day: 31, hour: 22, minute: 0 }, 1, 7, 5)).toEqual({
      year: 2026,
      month: 1,
      day: 1,
      hour: 7,
      minute: 5,
    });
  });
});

describe('isValidTimeZone', () => {
  it('knows IANA names and refuses others', () => {
    expect(isValidTimeZone('Africa/Nairobi')).toBe(true);
    expect(isValidTimeZone('Africa/Narnia')).toBe(false);
  });
});
