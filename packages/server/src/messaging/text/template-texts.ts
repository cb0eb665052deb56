// The texts Tiba ships for the messaging slice, per template and language. Projects may
// override or add any of them (ProjectTemplates.texts); these are the fallback.
// Every text stays GSM-7 and within two segments with realistic variables (template-texts.test.ts).
// Reminders name no medicine or condition: phones are shared.

/** Template name → language tag → text with `{{placeholder}}`s. */
export type TemplateTexts = Readonly<Record<string, Readonly<Record<string, string>>>>;

/** Names of the templates the messaging slice sends itself. */
export type BuiltInTemplate =
  | 'stop-confirmation'
  | 'start-confirmation'
  | 'help'
  | 'appointment-reminder'
  | 'medicine-reminder';

/** Default English and Swahili texts. `{{time}}` is written by the caller: Swahili counts hours from 6 a.m. ("saa 3 asubuhi" is 9:00). */
export const DEFAULT_TEMPLATE_TEXTS: Readonly<Record<BuiltInTemplate, Readonly<Record<string, string>>>> = {
  'stop-confirmation': {
    en: 'You have unsubscribed and will get no more messages from {{clinic}}. Reply START to subscribe again.',
    sw: 'Umejiondoa. Hutapokea ujumbe zaidi kutoka {{clinic}}. Tuma START kujiunga tena.',
  },
  'start-confirmation': {
    en: 'You are subscribed again to messages from {{clinic}}. Reply STOP to unsubscribe or HELP for help.',
    sw: 'Umejiunga tena. Utapokea ujumbe kutoka {{clinic}}. Tuma STOP kujiondoa au HELP kupata msaada.',
  },
  help: {
    en: '{{clinic}}: for help call {{phone}}. Reply STOP to unsubscribe, START to subscribe again.',
    sw: '{{clinic}}: kwa msaada piga simu {{phone}}. Tuma STOP kujiondoa, START kujiunga tena.',
  },
  'appointment-reminder': {
    en: 'Hello {{name}}, a reminder of your appointment at {{clinic}} on {{date}} at {{time}}. To change it, call {{phone}}.',
    sw: 'Habari {{name}}, tunakukumbusha miadi yako {{clinic}} tarehe {{date}} saa {{time}}. Kuibadilisha, piga simu {{phone}}.',
  },
  'medicine-reminder': {
    en: 'Hello {{name}}, {{clinic}} reminds you to take your medicine today. Questions? Call {{phone}}.',
    sw: 'Habari {{name}}, {{clinic}} inakukumbusha kutumia dawa yako leo. Una swali? Piga simu {{phone}}.',
  },
};
