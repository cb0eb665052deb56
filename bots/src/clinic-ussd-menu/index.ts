import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Appointment, Location, Patient } from '@medplum/fhirtypes';
// The server's own screen rules (182 GSM-7 characters, 98 More / 0 Back, never cut mid-word), bundled in.
import { buildUssdMenu, checkUssdText } from '../../../packages/server/src/messaging/text/ussd-screen.js';
import { languageOf, MENU_TEXTS, type MenuLanguage, type MenuTexts } from './menu-texts.js';

/**
 * The clinic's USSD menu. The server runs it for every screen of a USSD session on a channel that
 * names it (docs/messaging.md, USSD) and sends back what it returns; it keeps `state` between
 * screens. Main menu: 1 upcoming appointments, 2 clinic hours and contact, 3 language, 4 exit;
 * long screens are paged with 98 More / 0 Back, and 0 goes back from any screen.
 */

/** What the server hands the bot for each screen (`event.input`). */
export interface UssdScreenInput {
  channel: { id: string; serviceCode: string };
  sessionId: string;
  phoneNumber: string;
  patient?: Patient;
  /** Every input so far joined by `*`; empty on the first screen. */
  text: string;
  /** The newest input. */
  input: string;
  state: unknown;
}

export interface MenuState {
  lang: MenuLanguage;
  at: 'main' | 'appointments' | 'contact' | 'language';
  /** The screens of the current (paged) list and which one is showing. */
  pages: string[];
  page: number;
}

export interface UssdScreenAnswer {
  screen: string;
  state: MenuState | null;
}

export const MORE = '98';
export const BACK = '0';
/** Appointments listed at most (the next ones first). */
export const MAX_APPOINTMENTS = 9;

export async function handler(medplum: MedplumClient, event: BotEvent<UssdScreenInput>): Promise<UssdScreenAnswer> {
  const input = event.input;
  if (typeof input?.sessionId !== 'string' || typeof input.text !== 'string') {
    return { screen: 'END This service answers USSD screens only.', state: null };
  }
  const previous = readState(input.state);
  if (input.text === '' || !previous) {
    return mainMenu(previous?.lang ?? languageOf(input.patient?.communication));
  }
  const choice = String(input.input ?? '').trim();
  const t = MENU_TEXTS[previous.lang];
  if (choice === MORE && previous.page + 1 < previous.pages.length) {
    return show({ ...previous, page: previous.page + 1 });
  }
  if (choice === BACK) {
    return previous.page > 0 ? show({ ...previous, page: previous.page - 1 }) : mainMenu(previous.lang);
  }
  if (previous.at === 'main') {
    switch (choice) {
      case '1':
        return appointments(medplum, input.patient, previous.lang);
      case '2':
        return contact(medplum, previous.lang);
      case '3':
        return languageMenu(previous.lang);
      case '4':
        return { screen: `END ${t.goodbye}`, state: null };
    }
  }
  if (previous.at === 'language' && (choice === '1' || choice === '2')) {
    return mainMenu(choice === '1' ? 'en' : 'sw');
  }
  // Anything else: say so, and show the screen again.
  return show(previous, `${t.invalidChoice}\n`);
}

function readState(value: unknown): MenuState | undefined {
  const state = value as MenuState | null | undefined;
  const valid =
    typeof state === 'object' &&
    state !== null &&
    (state.lang === 'en' || state.lang === 'sw') &&
    Array.isArray(state.pages) &&
    Number.isInteger(state.page);
  return valid ? state : undefined;
}

/** The current page, with a line before it when it still fits (an invalid-choice note). */
function show(state: MenuState, prefix = ''): UssdScreenAnswer {
  const page = state.pages[state.page] ?? '';
  const withPrefix = `${prefix}${page}`;
  return { screen: `CON ${prefix && checkUssdText(withPrefix).ok ? withPrefix : page}`, state };
}

function menu(lang: MenuLanguage, at: MenuState['at'], title: string, options: readonly string[]): UssdScreenAnswer {
  const t = MENU_TEXTS[lang];
  const built = buildUssdMenu({
    title,
    options,
    more: { key: MORE, label: t.more },
    back: { key: BACK, label: t.back },
  });
  if (!built.ok) {
    throw new Error(`USSD menu does not fit: ${built.reason}`);
  }
  return show({ lang, at, pages: built.pages, page: 0 });
}

function mainMenu(lang: MenuLanguage): UssdScreenAnswer {
  const t = MENU_TEXTS[lang];
  return menu(lang, 'main', t.mainTitle, t.mainOptions);
}

function languageMenu(lang: MenuLanguage): UssdScreenAnswer {
  return menu(lang, 'language', MENU_TEXTS[lang].languageTitle, ['English', 'Kiswahili']);
}

/** A text screen with `0 Back`, split into pages at word boundaries when it is long. */
function detail(lang: MenuLanguage, at: MenuState['at'], lines: string[]): UssdScreenAnswer {
  const t = MENU_TEXTS[lang];
  const backLine = `${BACK} ${t.back}`;
  const pages: string[] = [];
  let current: string[] = [];
  const fits = (body: string[], footer: string[]) => checkUssdText([...body, ...footer].join('\n')).ok;
  for (const line of lines) {
    // Room for both navigation lines, so every page can show them.
    if (current.length > 0 && !fits([...current, line], [`${MORE} ${t.more}`, backLine])) {
      pages.push(current.join('\n'));
      current = [];
    }
    current.push(line);
  }
  pages.push(current.join('\n'));
  const withNavigation = pages.map((body, i) =>
    [body, ...(i + 1 < pages.length ? [`${MORE} ${t.more}`] : []), backLine].join('\n')
  );
  return show({ lang, at, pages: withNavigation, page: 0 });
}

async function appointments(
  medplum: MedplumClient,
  patient: Patient | undefined,
  lang: MenuLanguage
): Promise<UssdScreenAnswer> {
  const t = MENU_TEXTS[lang];
  if (!patient?.id) {
    return detail(lang, 'appointments', [t.unknownNumber]);
  }
  const found = await medplum.searchResources(
    'Appointment',
    {
      patient: `Patient/${patient.id}`,
      date: `ge${new Date().toISOString()}`,
      status: 'booked',
      _sort: 'date',
      _count: String(MAX_APPOINTMENTS),
    },
    { cache: 'no-cache' }
  );
  if (found.length === 0) {
    return detail(lang, 'appointments', [t.noAppointments]);
  }
  return detail(lang, 'appointments', [t.appointmentsTitle, ...found.map((a) => appointmentLine(a, t))]);
}

/** `2026-01-14 09:00 with Dr. Kamau`: the start as the clinic wrote it (its own offset), no time zone guessed. */
export function appointmentLine(appointment: Appointment, t: MenuTexts): string {
  const start = appointment.start ?? '';
  const when = `${start.slice(0, 10)} ${start.slice(11, 16)}`.trim();
  const who = appointment.participant
    ?.map((p) => p.actor)
    .find((actor) => actor?.reference?.startsWith('Practitioner/') && actor.display)?.display;
  return gsm7Only(who ? `${when} ${t.withWhom} ${who}` : when);
}

async function contact(medplum: MedplumClient, lang: MenuLanguage): Promise<UssdScreenAnswer> {
  const t = MENU_TEXTS[lang];
  const [organization, location] = await Promise.all([
    medplum.searchOne('Organization', { active: 'true' }, { cache: 'no-cache' }),
    medplum.searchOne('Location', { status: 'active' }, { cache: 'no-cache' }),
  ]);
  const phone = [...(location?.telecom ?? []), ...(organization?.telecom ?? [])].find((c) => c.system === 'phone');
  const lines = [organization?.name ?? location?.name ?? t.contactTitle];
  if (phone?.value) {
    lines.push(`${t.phone}: ${phone.value}`);
  }
  const hours = (location?.hoursOfOperation ?? []).map((h) => openingLine(h, lang)).filter(Boolean);
  lines.push(...(hours.length > 0 ? hours.map((h) => `${t.hours}: ${h}`) : [t.noHours]));
  return detail(lang, 'contact', lines.map(gsm7Only));
}

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
const DAY_NAMES: Record<MenuLanguage, readonly string[]> = {
  en: ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'],
  sw: ['Jumatatu', 'Jumanne', 'Jumatano', 'Alhamisi', 'Ijumaa', 'Jumamosi', 'Jumapili'],
};

/** `Mon-Fri 08:00-17:00` from Location.hoursOfOperation (consecutive days as a range). */
export function openingLine(hours: NonNullable<Location['hoursOfOperation']>[number], lang: MenuLanguage): string {
  const days = DAYS.map((d, i) => (hours.daysOfWeek?.includes(d) ? i : -1)).filter((i) => i >= 0);
  if (days.length === 0) {
    return '';
  }
  const names = DAY_NAMES[lang];
  const consecutive = days.every((d, i) => i === 0 || d === days[i - 1] + 1);
  const dayText =
    consecutive && days.length > 2
      ? `${names[days[0]]}-${names[days[days.length - 1]]}`
      : days.map((d) => names[d]).join(', ');
  const time = hours.allDay
    ? '24h'
    : `${hours.openingTime?.slice(0, 5) ?? '?'}-${hours.closingTime?.slice(0, 5) ?? '?'}`;
  return `${dayText} ${time}`;
}

/** Names typed elsewhere may hold letters a phone cannot show: they become `?`, never the whole screen refused. */
function gsm7Only(text: string): string {
  return Array.from(text, (c) => (checkUssdText(c).ok ? c : '?')).join('');
}
