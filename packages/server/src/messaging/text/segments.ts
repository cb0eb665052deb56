// SMS encoding and segment counting, 3GPP TS 23.038 (alphabets) and TS 23.040 §9.2.3.24.1
// (concatenation: the 6-octet user data header leaves 153 septets or 67 UCS-2 units).
// https://www.3gpp.org/ftp/Specs/archive/23_series/23.038/
import { gsm7Septets, nonGsm7Characters } from './gsm7.js';

export type SmsEncoding = 'GSM-7' | 'UCS-2';

export interface SegmentCount {
  encoding: SmsEncoding;
  /** Messages the carrier bills and the phone reassembles; an empty text is still one. */
  segments: number;
  /** Septets (GSM-7) or UTF-16 code units (UCS-2) of the whole text. */
  units: number;
  /** Capacity of one segment: 160/70 when the text fits one message, else 153/67. */
  perSegment: number;
  /** Units still free in the last segment. */
  remainingInSegment: number;
}

/** Longest message Tiba sends; longer ones are refused (issue 10: "over 3 segments are refused"). */
export const MAX_SEGMENTS = 3;

const LIMITS = {
  'GSM-7': { single: 160, concatenated: 153 },
  'UCS-2': { single: 70, concatenated: 67 },
} as const;

/** Units of one character: GSM-7 septets (2 for an extension escape pair) or UTF-16 units (2 outside the BMP). */
function unitsOf(char: string, encoding: SmsEncoding): number {
  return encoding === 'GSM-7' ? gsm7Septets(char) : char.length;
}

/** GSM-7 when every character is in the default alphabet or its extension table, else UCS-2. https://www.3gpp.org/ftp/Specs/archive/23_series/23.038/ */
export function chooseEncoding(text: string): SmsEncoding {
  return nonGsm7Characters(text).length === 0 ? 'GSM-7' : 'UCS-2';
}

/** Encoding, segment count and room left for an SMS text. https://www.3gpp.org/ftp/Specs/archive/23_series/23.040/ */
export function countSegments(text: string): SegmentCount {
  const encoding = chooseEncoding(text);
  const { single, concatenated } = LIMITS[encoding];
  let units = 0;
  for (const char of text) units += unitsOf(char, encoding);
  if (units <= single) {
    return { encoding, segments: 1, units, perSegment: single, remainingInSegment: single - units };
  }
  // Greedy packing: a character (escape pair or surrogate pair) that does not fit whole
  // starts the next segment, as handsets and gateways split.
  let segments = 1;
  let used = 0;
  for (const char of text) {
    const n = unitsOf(char, encoding);
    if (used + n > concatenated) {
      segments += 1;
      used = 0;
    }
    used += n;
  }
  return { encoding, segments, units, perSegment: concatenated, remainingInSegment: concatenated - used };
}

export type SegmentCheck = { ok: true; count: SegmentCount } | { ok: false; reason: string; count: SegmentCount };

/** Refuses texts over `max` segments (default MAX_SEGMENTS) with a reason fit for Communication.statusReason. */
export function checkSegmentLimit(text: string, max: number = MAX_SEGMENTS): SegmentCheck {
  const count = countSegments(text);
  if (count.segments <= max) return { ok: true, count };
  const hint =
    count.encoding === 'UCS-2'
      ? ` (UCS-2 because of ${nonGsm7Characters(text)
          .slice(0, 5)
          .map((c) => JSON.stringify(c))
          .join(', ')})`
      : '';
  return {
    ok: false,
    count,
    reason: `Message needs ${count.segments} SMS segments, over the limit of ${max}: ${count.units} ${count.encoding} units${hint}`,
  };
}
