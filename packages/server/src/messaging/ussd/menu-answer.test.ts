import { describe, expect, test } from 'vitest';
import { readMenuAnswer, USSD_APOLOGY, USSD_TIME_UP } from './menu-answer.js';

describe('readMenuAnswer', () => {
  test('a CON or END screen, as a string or as { type, text }, with its state', () => {
    expect(readMenuAnswer({ screen: 'CON 1. Yes\n2. No', state: { at: 'q1' } })).toEqual({
      ok: true,
      kind: 'CON',
      body: 'CON 1. Yes\n2. No',
      state: { at: 'q1' },
    });
    expect(readMenuAnswer({ screen: { type: 'END', text: 'Asante' } })).toEqual({
      ok: true,
      kind: 'END',
      body: 'END Asante',
      state: null,
    });
  });

  test('182 GSM-7 characters after the prefix fit; one more, or a character outside GSM-7, does not', () => {
    expect(readMenuAnswer({ screen: `CON ${'a'.repeat(182)}` }).ok).toBe(true);
    expect(readMenuAnswer({ screen: `CON ${'a'.repeat(183)}` })).toMatchObject({ ok: false, reason: /over 182/ });
    // An extension character counts two.
    expect(readMenuAnswer({ screen: `END ${'a'.repeat(181)}€` })).toMatchObject({ ok: false });
    expect(readMenuAnswer({ screen: 'CON Habari 😀' })).toMatchObject({ ok: false, reason: /outside GSM-7/ });
  });

  test('anything else is refused with a reason', () => {
    for (const value of [
      undefined,
      'CON hello',
      { screen: 'hello' },
      { screen: 'CONhello' },
      { screen: 'con hello' },
      { screen: 'CON ' },
      { screen: { type: 'MORE', text: 'x' } },
      { screen: 'CON ok', state: { big: 'x'.repeat(20_000) } },
    ]) {
      expect(readMenuAnswer(value).ok, JSON.stringify(value)?.slice(0, 60)).toBe(false);
    }
  });

  test('the server’s own END screens fit', () => {
    for (const screen of [USSD_APOLOGY, USSD_TIME_UP]) {
      expect(readMenuAnswer({ screen })).toMatchObject({ ok: true, kind: 'END' });
    }
  });
});
