import { describe, expect, test } from 'vitest';
import { projectTemplatesOf } from './project-templates.js';
import { renderPatientMessage } from './templates.js';

describe('project templates', () => {
  const project = {
    setting: [
      { name: 'messagingTemplate:stop-confirmation:sw', valueString: 'Kliniki ya {{clinic}}: umejiondoa.' },
      { name: 'messagingTemplate:check-in:en', valueString: 'How are you, {{name}}?' },
      { name: 'messagingDefaultLanguage', valueString: 'sw' },
      { name: 'messagingTemplate:broken', valueString: 'no language' },
      { name: 'other', valueString: 'x' },
    ],
  };

  test('override Tiba texts, add templates, and set the default language', () => {
    const templates = projectTemplatesOf(project);
    expect(templates.defaultLanguage).toBe('sw');
    expect(templates.texts).toEqual({
      'stop-confirmation': { sw: 'Kliniki ya {{clinic}}: umejiondoa.' },
      'check-in': { en: 'How are you, {{name}}?' },
    });
    // A patient with no known language gets the project default, with the project's own text.
    expect(renderPatientMessage('stop-confirmation', undefined, { clinic: 'Tiba' }, templates)).toEqual({
      ok: true,
      text: 'Kliniki ya Tiba: umejiondoa.',
      language: 'sw',
    });
    // The English text is still Tiba's.
    const en = { communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'en' }] } }] };
    const english = renderPatientMessage('stop-confirmation', en, { clinic: 'Tiba' }, templates);
    expect(english.ok && english.text).toMatch(/^You have unsubscribed/);
  });

  test('no settings: Tiba defaults', () => {
    expect(projectTemplatesOf({})).toEqual({ defaultLanguage: undefined, texts: {} });
  });
});
