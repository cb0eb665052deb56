import { describe, expect, test } from 'vitest';
import { jsonDepth, parseJsonBody } from './json-body.js';

describe('jsonDepth', () => {
  test('counts objects and arrays, not brackets inside strings', () => {
    expect(jsonDepth('1', 10)).toBe(0);
    expect(jsonDepth('{"a":[{"b":1}]}', 10)).toBe(3);
    expect(jsonDepth('{"a":"[[[[{{{{"}', 10)).toBe(1);
    expect(jsonDepth('{"a":"\\"[[[["}', 10)).toBe(1);
    expect(jsonDepth('[[],[[]],[]]', 10)).toBe(3);
  });

  test('stops once past the limit', () => {
    expect(jsonDepth(`${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}`, 100)).toBe(101);
  });
});

describe('parseJsonBody', () => {
  test('empty is undefined; JSON parses; too deep and malformed are 400s', () => {
    expect(parseJsonBody('  ', 5)).toBeUndefined();
    expect(parseJsonBody('null', 5)).toBeNull();
    expect(parseJsonBody('{"a":[1]}', 5)).toEqual({ a: [1] });
    expect(() => parseJsonBody('[[[[[[1]]]]]]', 5)).toThrow(/deeper than 5/);
    expect(() => parseJsonBody('{"a":', 5)).toThrow(/Invalid JSON/);
  });
});
