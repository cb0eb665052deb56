import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { countGsm7Septets } from './gsm7.js';
import { buildUssdMenu, checkUssdText, formatUssdScreen, USSD_SCREEN_LIMIT } from './ussd-screen.js';

describe('formatUssdScreen', () => {
  it('prefixes CON or END and counts 182 characters without the prefix', () => {
    expect(formatUssdScreen('CON', 'Karibu\n1. Dawa')).toEqual({ ok: true, body: 'CON Karibu\n1. Dawa' });
    expect(formatUssdScreen('END', 'a'.repeat(182)).ok).toBe(true);
    expect(formatUssdScreen('END', 'a'.repeat(183))).toEqual({
      ok: false,
      reason: 'USSD screen is 183 GSM-7 characters, over 182',
    });
  });

  it('counts extension characters as two and refuses non-GSM-7', () => {
    expect(checkUssdText('€'.repeat(91))).toEqual({ ok: true, septets: 182 });
    expect(checkUssdText('€'.repeat(92)).ok).toBe(false);
    expect(checkUssdText('Asante 😀')).toEqual({ ok: false, reason: 'USSD screen has characters outside GSM-7: "😀"' });
  });
});

describe('buildUssdMenu', () => {
  it('fits a short menu on one screen', () => {
    expect(buildUssdMenu({ title: 'Chagua:', options: ['Dawa', 'Miadi'] })).toEqual({
      ok: true,
      pages: ['Chagua:\n1. Dawa\n2. Miadi'],
    });
  });

  it('paginates with 98 More and 0 Back', () => {
    const options = Array.from({ length: 12 }, (_, i) => `Kliniki ya Afya namba ${i + 1}`);
    const r = buildUssdMenu({ title: 'Chagua kliniki:', options });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.pages.length).toBeGreaterThan(1);
    expect(r.pages[0].endsWith('\n98 More')).toBe(true);
    expect(r.pages.at(-1)!.endsWith('\n0 Back')).toBe(true);
    expect(r.pages.at(-1)).not.toContain('98 More');
  });

  it('refuses an item that cannot fit a screen, and non-GSM-7 text', () => {
    expect(buildUssdMenu({ title: 'x', options: ['a'.repeat(190)] }).ok).toBe(false);
    expect(buildUssdMenu({ title: 'x', options: ['Ω ok', 'ẹ'] }).ok).toBe(false);
  });

  it('keeps every screen within the limit, every option and word whole on some page', () => {
    const word = fc.string({ unit: fc.constantFrom('a', 'b', 'é', '€'), minLength: 1, maxLength: 12 });
    fc.assert(
      fc.property(
        fc.array(word, { maxLength: 60 }),
        fc.array(fc.array(word, { minLength: 1, maxLength: 6 }), { maxLength: 40 }),
        (titleWords, opts) => {
          const options = opts.map((o) => o.join(' '));
          const r = buildUssdMenu({ title: titleWords.join(' '), options });
          expect(r.ok).toBe(true);
          if (!r.ok) return;
          for (const p of r.pages) expect(countGsm7Septets(p)!).toBeLessThanOrEqual(USSD_SCREEN_LIMIT);
          options.forEach((o, i) => {
            expect(r.pages.filter((p) => p.split('\n').includes(`${i + 1}. ${o}`))).toHaveLength(1);
          });
          const tokens = new Set(r.pages.flatMap((p) => p.split(/\s+/)));
          for (const w of titleWords) expect(tokens.has(w)).toBe(true);
          for (const p of r.pages.slice(0, -1)) expect(p.endsWith('\n98 More')).toBe(true);
        }
      ),
      { numRuns: 200 }
    );
  });
});
