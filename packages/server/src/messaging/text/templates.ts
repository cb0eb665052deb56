// Rendering of message templates with named `{{placeholder}}`s. SMS is plain text, so nothing
// is escaped; what must never reach a patient is an unfilled placeholder or a control character.
import type { Patient } from '@medplum/fhirtypes';
import { chooseLanguage } from './patient-language.js';
import { DEFAULT_TEMPLATE_TEXTS, type TemplateTexts } from './template-texts.js';

/** A project's own texts (merged over the defaults per template) and its default language. */
export interface ProjectTemplates {
  defaultLanguage?: string;
  texts?: TemplateTexts;
}

export type TemplateVariables = Readonly<Record<string, string | number>>;

export type RenderResult = { ok: true; text: string } | { ok: false; reason: string };

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const NAME = /^[A-Za-z][A-Za-z0-9_]*$/;
// C0/C1 controls (newlines and tabs too: a name must not restructure the message), line and
// paragraph separators, and bidi overrides that would make a text read differently than it is.
const CONTROL = /[\p{Cc}\u2028\u2029\u202a-\u202e\u2066-\u2069]/u;

/** Placeholder names used in a template, in order of first use. */
export function templatePlaceholders(template: string): string[] {
  return [...new Set([...template.matchAll(PLACEHOLDER)].map((m) => m[1]))];
}

/** Fills `{{name}}` placeholders; refuses a malformed template, a missing or empty variable, or a control character in one. */
export function renderTemplate(template: string, vars: TemplateVariables): RenderResult {
  const names = templatePlaceholders(template);
  const bad = names.find((n) => !NAME.test(n));
  if (bad !== undefined) return { ok: false, reason: `Malformed placeholder {{${bad}}} in template` };
  if (/\{\{|\}\}/.test(template.replace(PLACEHOLDER, ''))) {
    return { ok: false, reason: 'Unbalanced {{ or }} in template' };
  }
  const missing = names.filter((n) => !Object.hasOwn(vars, n) || String(vars[n]).trim() === '');
  if (missing.length > 0) return { ok: false, reason: `Missing template variable(s): ${missing.join(', ')}` };
  const unsafe = names.filter((n) => CONTROL.test(String(vars[n])));
  if (unsafe.length > 0) {
    return { ok: false, reason: `Control characters in template variable(s): ${unsafe.join(', ')}` };
  }
  // One pass: a value containing `{{x}}` is inserted as written, never expanded.
  return { ok: true, text: template.replace(PLACEHOLDER, (_, n: string) => String(vars[n])) };
}

/** Language → text for one template: the project's texts over Tiba's defaults. */
export function templateLanguages(name: string, project: ProjectTemplates = {}): Readonly<Record<string, string>> {
  const defaults: TemplateTexts = DEFAULT_TEMPLATE_TEXTS;
  return { ...defaults[name], ...project.texts?.[name] };
}

export type PatientMessage = { ok: true; text: string; language: string } | { ok: false; reason: string };

/** Renders template `name` in the patient's language (Patient.communication, then project default, then `en`). */
export function renderPatientMessage(
  name: string,
  patient: Pick<Patient, 'communication'> | undefined,
  vars: TemplateVariables,
  project: ProjectTemplates = {}
): PatientMessage {
  const texts = templateLanguages(name, project);
  const language = chooseLanguage(patient, Object.keys(texts), project.defaultLanguage);
  if (language === undefined)
    return { ok: false, reason: `No text for template ${name} in the patient's language, the project default or en` };
  const rendered = renderTemplate(texts[language], vars);
  return rendered.ok
    ? { ok: true, text: rendered.text, language }
    : { ok: false, reason: `Template ${name} (${language}): ${rendered.reason}` };
}
