import type { Project } from '@medplum/fhirtypes';
import type { TemplateTexts } from './template-texts.js';
import type { ProjectTemplates } from './templates.js';

/** Project.setting `messagingTemplate:<name>:<language>` (valueString): the project's own text. */
export const TEMPLATE_SETTING_PREFIX = 'messagingTemplate:';
/** Project.setting `messagingDefaultLanguage` (valueString, BCP 47): for patients with no known language. */
export const DEFAULT_LANGUAGE_SETTING = 'messagingDefaultLanguage';

/**
 * A project's message templates, from its settings: each `messagingTemplate:<name>:<language>`
 * replaces Tiba's text for that template and language (or adds a template or a language).
 * Settings are editable by project admins like any project setting.
 */
export function projectTemplatesOf(project: Pick<Project, 'setting'>): ProjectTemplates {
  const texts: Record<string, Record<string, string>> = {};
  let defaultLanguage: string | undefined;
  for (const setting of project.setting ?? []) {
    const value = setting.valueString?.trim();
    if (!setting.name || !value) {
      continue;
    }
    if (setting.name === DEFAULT_LANGUAGE_SETTING) {
      defaultLanguage = value;
      continue;
    }
    if (!setting.name.startsWith(TEMPLATE_SETTING_PREFIX)) {
      continue;
    }
    const [name, language] = setting.name.slice(TEMPLATE_SETTING_PREFIX.length).split(':');
    if (name && language) {
      texts[name] ??= {};
      texts[name][language] = value;
    }
  }
  return { defaultLanguage, texts: texts as TemplateTexts };
}
