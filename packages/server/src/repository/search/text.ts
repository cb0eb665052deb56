/**
 * Text helpers shared by indexing (write time) and filtering (search time): both sides must
 * normalize and truncate a value the same way or equal values would stop matching.
 */

/**
 * B-tree entries are limited to ~2,700 bytes; indexed text columns are cut well below that
 * (4 bytes per character at worst) so that one very long value can never fail a write.
 */
export const MAX_INDEXED_CHARS = 400;

/** Longer limit for string values: only `norm` is in a b-tree, `value` is kept for `:exact`. */
export const MAX_STRING_VALUE_CHARS = 2000;

/** Lower-cases and strips diacritics (NFD + removal of combining marks): "Zoë" → "zoe". */
export function normalizeString(value: string): string {
  return truncate(value.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase(), MAX_INDEXED_CHARS);
}

export function truncate(value: string, max: number = MAX_INDEXED_CHARS): string {
  return value.length > max ? value.slice(0, max) : value;
}

/**
 * The smallest string above every string that starts with `prefix`, in code point order (which
 * is UTF-8 byte order, the order of text_pattern_ops); undefined when there is none.
 */
export function prefixUpperBound(prefix: string): string | undefined {
  const chars = [...prefix];
  while (chars.length > 0) {
    const last = (chars.pop() as string).codePointAt(0) as number;
    const next = last + 1 === 0xd800 ? 0xe000 : last + 1; // surrogates are not characters
    if (next <= 0x10ffff) {
      return chars.join('') + String.fromCodePoint(next);
    }
  }
  return undefined;
}

/** Escapes `%`, `_` and `\` so user input is literal inside a LIKE pattern. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, '\\$&');
}
