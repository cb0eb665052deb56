import { expect, test } from 'vitest';
import { prefixUpperBound } from './text.js';

test('prefixUpperBound: the next string in code point order after all that start with the prefix', () => {
  expect(prefixUpperBound('teka')).toBe('tekb');
  expect(prefixUpperBound('a\u{10ffff}')).toBe('b');
  expect(prefixUpperBound('\u{10ffff}')).toBeUndefined();
  expect(prefixUpperBound('x\ud7ff')).toBe('x\ue000');
  expect(prefixUpperBound('z\uffff')).toBe('z\u{10000}');
  expect(prefixUpperBound('')).toBeUndefined();
  // Every string that starts with the prefix sorts below the bound, byte-wise in UTF-8.
  const bytes = (s: string) => Buffer.from(s, 'utf8');
  for (const [prefix, s] of [
    ['z\uffff', 'z\uffff\u{10ffff}'],
    ['é', 'é\u{10ffff}x'],
    ['a\u{10ffff}', 'a\u{10ffff}\u{10ffff}'],
  ]) {
    expect(Buffer.compare(bytes(s), bytes(prefixUpperBound(prefix) as string))).toBe(-1);
  }
});
