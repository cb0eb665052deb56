import { describe, expect, it } from 'vitest';
import { keywordOf } from './keywords.js';

describe('keywordOf', () => {
  it('reads each opt-out, opt-in and help word, in any case, trimmed', () => {
    for (const word of ['STOP', 'stopall', 'Unsubscribe', 'cancel', 'END', ' quit ', 'Stop.', 'stop!\n']) {
      expect(keywordOf(word), word).toBe('stop');
    }
    for (const word of ['START', 'yes', 'UnStop']) {
      expect(keywordOf(word), word).toBe('start');
    }
    expect(keywordOf('help')).toBe('help');
    expect(keywordOf('INFO ')).toBe('help');
  });
  it('ignores sentences, empty bodies and object keys', () => {
    expect(keywordOf('please stop')).toBeUndefined();
    expect(keywordOf('yes please')).toBeUndefined();
    expect(keywordOf('')).toBeUndefined();
    expect(keywordOf(undefined)).toBeUndefined();
    expect(keywordOf('constructor')).toBeUndefined();
    expect(keywordOf('__PROTO__')).toBeUndefined();
  });
});
