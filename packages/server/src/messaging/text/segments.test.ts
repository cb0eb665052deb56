import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countGsm7Septets, nonGsm7Characters } from './gsm7.js';
import { checkSegmentLimit, countSegments, MAX_SEGMENTS } from './segments.js';

const ESC = -1;

/** Encodes as a gateway would (septet stream with ESC markers, or UTF-16 units), then cuts fixed-size chunks, backing off a split pair. */
function bruteForceSplit(text: string): string[] {
  const gsm = countGsm7Septets(text) !== undefined;
  const stream: { unit: number; char: number }[] = [];
  const chars = [...text];
  chars.forEach((c, i) => {
    if (gsm) {
      if (countGsm7Septets(c) === 2) stream.push({ unit: ESC, char: i });
      stream.push({ unit: 0, char: i });
    } else {
      for (let k = 0; k < c.length; k++) stream.push({ unit: c.charCodeAt(k), char: i });
    }
  });
  const single = gsm ? 160 : 70;
  const size = gsm ? 153 : 67;
  if (stream.length <= single) return [text];
  const parts: string[] = [];
  let at = 0;
  while (at < stream.length) {
    let end = Math.min(at + size, stream.length);
    // A chunk must not end on an ESC or a high surrogate: the pair's second half is in the next chunk.
    const last = stream[end - 1];
    if (end < stream.length && stream[end].char === last.char) end -= 1;
    const from = stream[at].char;
    const to = stream[end - 1].char;
    parts.push(chars.slice(from, to + 1).join(''));
    at = end;
  }
  return parts;
}

describe('countSegments', () => {
  it('fits 160 GSM-7 characters in one segment, 161 in two', () => {
    expect(countSegments('a'.repeat(160))).toEqual({
      encoding: 'GSM-7',
      segments: 1,
      units: 160,
      perSegment: 160,
      remainingInSegment: 0,
    });
    expect(countSegments('a'.repeat(161))).toEqual({
      encoding: 'GSM-7',
      segments: 2,
      units: 161,
      perSegment: 153,
      remainingInSegment: 153 - 8,
    });
  });

  it('fits 153 × 3 septets in three segments, one more in four', () => {
    expect(countSegments('a'.repeat(459))).toMatchObject({ segments: 3, remainingInSegment: 0 });
    expect(countSegments('a'.repeat(460))).toMatchObject({ segments: 4, remainingInSegment: 152 });
  });

  it('counts extension characters as two septets', () => {
    for (const c of '€[]{}^~|\\') {
      expect(countSegments(c)).toMatchObject({ encoding: 'GSM-7', units: 2 });
    }
    expect(countSegments('€'.repeat(80))).toMatchObject({ segments: 1, units: 160 });
    expect(countSegments(`${'€'.repeat(80)}a`)).toMatchObject({ segments: 2, units: 161 });
  });

  it('never splits an escape pair across segments', () => {
    // 152 septets, then € would take septets 153–154: it moves whole to segment 2.
    const text = `${'a'.repeat(152)}€${'a'.repeat(10)}`;
    expect(countSegments(text)).toMatchObject({ segments: 2, units: 164, remainingInSegment: 153 - 12 });
    // Without the move the same units would still fit in two; 3 × 153 shows the difference.
    const tight = `${'a'.repeat(152)}€${'a'.repeat(152)}€${'a'.repeat(151)}`;
    expect(countSegments(tight).units).toBe(459);
    expect(countSegments(tight).segments).toBe(4);
  });

  it('fits 70 UCS-2 units in one segment, 71 in two', () => {
    expect(countSegments('ж'.repeat(70))).toMatchObject({ encoding: 'UCS-2', segments: 1, units: 70, perSegment: 70 });
    expect(countSegments('ж'.repeat(71))).toMatchObject({ segments: 2, units: 71, perSegment: 67 });
    expect(countSegments('ж'.repeat(201))).toMatchObject({ segments: 3, remainingInSegment: 0 });
    expect(countSegments('ж'.repeat(202))).toMatchObject({ segments: 4 });
  });

  it('counts an emoji as two UCS-2 units and never splits the surrogate pair', () => {
    expect(countSegments('😀')).toMatchObject({ encoding: 'UCS-2', units: 2 });
    expect(countSegments('😀'.repeat(35))).toMatchObject({ segments: 1, units: 70 });
    // 66 units, then an emoji needing units 67–68: it starts segment 2.
    const text = `${'ж'.repeat(66)}😀${'ж'.repeat(5)}`;
    expect(countSegments(text)).toMatchObject({ segments: 2, units: 73, remainingInSegment: 67 - 7 });
  });

  it('turns a whole message into UCS-2 for one character outside GSM-7', () => {
    const text = `${'a'.repeat(100)}’`; // a typographic apostrophe, common in pasted text
    expect(countSegments(text)).toMatchObject({ encoding: 'UCS-2', segments: 2, units: 101 });
  });

  it('keeps Swahili text in GSM-7', () => {
    const sw = 'Habari Wanjiku, tunakukumbusha miadi yako Kliniki ya Mbagathi tarehe 12/03/2026 saa 3 asubuhi.';
    expect(nonGsm7Characters(sw)).toEqual([]);
    expect(countSegments(sw)).toMatchObject({ encoding: 'GSM-7', segments: 1, units: sw.length });
  });

  it('counts an empty text as one segment with all room left', () => {
    expect(countSegments('')).toEqual({
      encoding: 'GSM-7',
      segments: 1,
      units: 0,
      perSegment: 160,
      remainingInSegment: 160,
    });
  });

  const gsmChar = fc.constantFrom(...'aZ0 @£\n€[]{}^~|\\ÄñΔ'.split(''));
  const anyChar = fc.oneof(gsmChar, fc.constantFrom('ж', 'ê', '😀', '’', '🇰🇪'));

  it('agrees with a brute-force splitter on GSM-7 and UCS-2 texts', () => {
    fc.assert(
      fc.property(fc.oneof(fc.array(gsmChar, { maxLength: 700 }), fc.array(anyChar, { maxLength: 300 })), (chars) => {
        const text = chars.join('');
        const parts = bruteForceSplit(text);
        const count = countSegments(text);
        expect(count.segments).toBe(parts.length);
        expect(parts.join('')).toBe(text);
        for (const part of parts) {
          const units = count.encoding === 'GSM-7' ? countGsm7Septets(part)! : part.length;
          expect(units).toBeLessThanOrEqual(count.perSegment);
        }
      }),
      { numRuns: 500 }
    );
  });
});

describe('checkSegmentLimit', () => {
  it('accepts three segments and refuses four with a reason', () => {
    expect(MAX_SEGMENTS).toBe(3);
    expect(checkSegmentLimit('a'.repeat(459)).ok).toBe(true);
    const refused = checkSegmentLimit('a'.repeat(460));
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.reason).toBe('Message needs 4 SMS segments, over the limit of 3: 460 GSM-7 units');
  });

  it('names the characters that forced UCS-2', () => {
    const refused = checkSegmentLimit(`${'a'.repeat(200)}😀`);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.reason).toContain('(UCS-2 because of "😀")');
  });

  it('takes another limit', () => {
    expect(checkSegmentLimit('a'.repeat(161), 1).ok).toBe(false);
  });
});
