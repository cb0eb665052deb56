import type { Patient } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderPatientMessage, renderTemplate, templateLanguages, templatePlaceholders } from './templates.js';

describe('renderTemplate', () => {
  it('fills named placeholders, as plain text', () => {
    expect(renderTemplate('Hi {{name}} & <{{clinic}}>', { name: 'Amina', clinic: 'A&B' })).toEqual({
      ok: true,
      text: 'Hi Amina & <A&B>',
    });
    expect(renderTemplate('{{n}} pills', { n: 2 })).toEqual({ ok: true, text: '2 pills' });
  });

  it('refuses missing or empty variables, naming them', () => {
    expect(renderTemplate('Hi {{name}} at {{clinic}}', { name: 'Amina' })).toEqual({
      ok: false,
      reason: 'Missing template variable(s): clinic',
    });
    expect(renderTemplate('Hi {{name}}', { name: '  ' }).ok).toBe(false);
  });

  it('refuses control characters in variables', () => {
    for (const bad of ['a\nb', 'a\u0000', 'a\u001b[31m', 'a\u0085', 'a\u202eb', 'a\u2028']) {
      const r = renderTemplate('Hi {{name}}', { name: bad });
      expect(r).toEqual({ ok: false, reason: 'Control characters in template variable(s): name' });
    }
  });

  it('refuses malformed templates', () => {
    expect(renderTemplate('Hi {{ name }}', { name: 'x' }).ok).toBe(false);
    expect(renderTemplate('Hi {{name}', { name: 'x' }).ok).toBe(false);
    expect(renderTemplate('Hi name}}', { name: 'x' }).ok).toBe(false);
  });

  it('never expands placeholders inside values', () => {
    expect(renderTemplate('{{a}}', { a: '{{b}}', b: 'x' })).toEqual({ ok: true, text: '{{b}}' });
  });

  it('leaves no placeholder in any rendered text', () => {
    const name = fc.stringMatching(/^[a-z][a-z0-9_]{0,5}$/);
    fc.assert(
      fc.property(
        fc.array(
          fc.oneof(
            fc.string({ unit: fc.constantFrom('a', ' ', '.', '{', '}') }),
            name.map((n) => `{{${n}}}`)
          )
        ),
        fc.dictionary(name, fc.string({ minLength: 1 })),
        (parts, vars) => {
          const template = parts.join('');
          const r = renderTemplate(template, vars);
          if (r.ok) {
            for (const n of templatePlaceholders(template)) expect(vars[n]).toBeDefined();
            const fromValues = Object.values(vars).some((v) => String(v).includes('{') || String(v).includes('}'));
            if (!fromValues) expect(r.text).not.toMatch(/\{\{|\}\}/);
          } else {
            expect(r.reason.length).toBeGreaterThan(0);
          }
        }
      )
    );
  });
});

describe('renderPatientMessage', () => {
  const swahili: Patient = {
    resourceType: 'Patient',
    communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'sw-KE' }] }, preferred: true }],
  };

  it('writes in the patient language', () => {
    expect(renderPatientMessage('stop-confirmation', swahili, { clinic: 'Kliniki ya Mbagathi' })).toEqual({
      ok: true,
      language: 'sw',
      text: 'Umejiondoa. Hutapokea ujumbe zaidi kutoka Kliniki ya Mbagathi. Tuma START kujiunga tena.',
    });
  });

  it("uses the project's text and default language over Tiba's", () => {
    const project = { defaultLanguage: 'sw', texts: { help: { sw: 'Msaada: {{phone}}' } } };
    expect(renderPatientMessage('help', undefined, { phone: '0800 123' }, project)).toEqual({
      ok: true,
      language: 'sw',
      text: 'Msaada: 0800 123',
    });
    expect(templateLanguages('help', project).en).toContain('for help call');
  });

  it('explains a refusal', () => {
    expect(renderPatientMessage('help', swahili, { clinic: 'X' })).toEqual({
      ok: false,
      reason: 'Template help (sw): Missing template variable(s): phone',
    });
    expect(renderPatientMessage('no-such-template', swahili, {}).ok).toBe(false);
  });
});
