/**
 * Decimal values with the range their precision implies: 5.4 stands for [5.35, 5.45) and 100
 * for [99.5, 100.5) (https://hl7.org/fhir/R4/search.html#number). Exact decimal arithmetic on
 * BigInt so that bounds never pick up binary floating-point noise.
 */
export interface DecimalRange {
  value: string;
  low: string;
  high: string;
}

const DECIMAL_PATTERN = /^([+-]?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/;

/** Largest exponent accepted; PostgreSQL numeric copes, but nobody means 1e100000. */
const MAX_EXPONENT = 300;

/** Parses a decimal literal (as in FHIR JSON or a search value); undefined if it is not one. */
export function parseDecimalRange(text: string): DecimalRange | undefined {
  const m = DECIMAL_PATTERN.exec(text);
  if (!m) {
    return undefined;
  }
  const exponent = m[4] ? Number(m[4]) : 0;
  if (Math.abs(exponent) > MAX_EXPONENT) {
    return undefined;
  }
  const fraction = m[3] ?? '';
  const unscaled = BigInt(m[2] + fraction) * (m[1] === '-' ? -1n : 1n);
  // One more digit than written, so half a unit of the last digit is the integer 5.
  const scale = fraction.length - exponent + 1;
  const v = unscaled * 10n;
  return { value: formatScaled(v, scale), low: formatScaled(v - 5n, scale), high: formatScaled(v + 5n, scale) };
}

/** Range of a JSON number as stored in a resource. */
export function numberRange(value: number): DecimalRange | undefined {
  return Number.isFinite(value) ? parseDecimalRange(String(value)) : undefined;
}

/** Formats n × 10^-scale as a plain decimal string without trailing zeros. */
function formatScaled(n: bigint, scale: number): string {
  if (scale <= 0) {
    return (n * 10n ** BigInt(-scale)).toString();
  }
  const negative = n < 0n;
  const digits = (negative ? -n : n).toString().padStart(scale + 1, '0');
  const integer = digits.slice(0, -scale);
  const fraction = digits.slice(-scale).replace(/0+$/, '');
  const text = fraction ? `${integer}.${fraction}` : integer;
  return negative && text !== '0' ? `-${text}` : text;
}
