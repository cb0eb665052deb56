import { describe, expect, it } from 'vitest';
import { countSegments } from './segments.js';
import { DEFAULT_TEMPLATE_TEXTS } from './template-texts.js';
import { renderTemplate, templatePlaceholders } from './templates.js';

// Realistic, longish values: a full clinic name, a Kenyan number written with spaces.
const vars = {
  clinic: 'Mbagathi County Hospital',
  name: 'Wanjiku Kamau',
  phone: '+254 712 345 678',
  date: '12/03/2026',
  time: '3 asubuhi',
};

describe('DEFAULT_TEMPLATE_TEXTS', () => {
  for (const [name, byLanguage] of Object.entries(DEFAULT_TEMPLATE_TEXTS)) {
    it(`${name} exists in en and sw with the same placeholders`, () => {
      expect(Object.keys(byLanguage).sort()).toEqual(['en', 'sw']);
      expect(templatePlaceholders(byLanguage.sw).sort()).toEqual(templatePlaceholders(byLanguage.en).sort());
    });
    for (const [language, text] of Object.entries(byLanguage)) {
      it(`${name} (${language}) renders to 1–2 GSM-7 segments`, () => {
        const rendered = renderTemplate(text, vars);
        expect(rendered.ok).toBe(true);
        if (!rendered.ok) return;
        const count = countSegments(rendered.text);
        expect(count.encoding).toBe('GSM-7');
        expect(count.segments).toBeLessThanOrEqual(2);
      });
    }
  }

  it('keeps STOP and START confirmations in one segment', () => {
    for (const name of ['stop-confirmation', 'start-confirmation'] as const) {
      for (const text of Object.values(DEFAULT_TEMPLATE_TEXTS[name])) {
        const rendered = renderTemplate(text, vars);
        expect(rendered.ok && countSegments(rendered.text).segments).toBe(1);
      }
    }
  });
});
