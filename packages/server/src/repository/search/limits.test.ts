import { describe, expect, test } from 'vitest';
import type { SearchLimits } from '../../config.js';
import { chainDepth, checkQueryLimits, filterShape } from './limits.js';

const limits: SearchLimits = {
  maxParameters: 5,
  maxValuesPerParameter: 3,
  maxSortKeys: 2,
  maxFilterClauses: 3,
  maxChainDepth: 2,
  maxIncludes: 2,
};

describe('search limits', () => {
  test('chain depth counts links and _has levels', () => {
    expect(chainDepth('name')).toBe(0);
    expect(chainDepth('subject:Patient.name')).toBe(1);
    expect(chainDepth('subject:Patient.organization.partof.name')).toBe(3);
    expect(chainDepth('_has:Observation:patient:_has:AuditEvent:entity:agent')).toBe(2);
  });

  test('_filter comparisons are counted outside quoted values', () => {
    expect(filterShape('name eq "x"')).toEqual({ clauses: 1, depth: 0 });
    expect(filterShape('name eq "a and (b or c" and gender eq male')).toEqual({ clauses: 2, depth: 0 });
    expect(filterShape('(name eq x or name eq y) AND not (gender eq male)')).toEqual({ clauses: 3, depth: 1 });
    expect(filterShape('((((name eq x))))')).toEqual({ clauses: 1, depth: 4 });
  });

  test('each limit refuses with a 400 too-costly naming its setting', () => {
    const refused = (query: Record<string, string | string[]>) => {
      try {
        checkQueryLimits(query, limits);
      } catch (err) {
        return (err as { outcome: { issue: { code: string; details: { text: string } }[] } }).outcome.issue[0];
      }
      return undefined;
    };
    expect(refused({ name: ['a', 'b', 'c'], gender: 'x' })).toBeUndefined();
    expect(refused({ name: ['a', 'b', 'c', 'd', 'e', 'f'] })?.details.text).toMatch(/SEARCH_MAX_PARAMETERS/);
    expect(refused({ name: 'a,b,c,d' })?.details.text).toMatch(/SEARCH_MAX_VALUES/);
    expect(refused({ 'subject:Patient.organization.partof.name': 'x' })?.details.text).toMatch(
      /SEARCH_MAX_CHAIN_DEPTH/
    );
    expect(refused({ _filter: 'a eq 1 or a eq 2 or a eq 3 or a eq 4' })?.details.text).toMatch(
      /SEARCH_MAX_FILTER_CLAUSES/
    );
    expect(refused({ _filter: `${'('.repeat(4)}a eq 1${')'.repeat(4)}` })?.details.text).toMatch(/nested 4 deep/);
    expect(refused({ name: 'a,b,c,d' })?.code).toBe('too-costly');
  });
});
