// Africa's Talking USSD answers: `CON <text>` keeps the session, `END <text>` ends it.
// https://developers.africastalking.com/docs/ussd/overview
import { countGsm7Septets, nonGsm7Characters } from './gsm7.js';

/** Septets a screen may show: 160 octets of 7-bit packed USSD string, 3GPP TS 23.038 §6.1.2.3. The `CON `/`END ` prefix is the gateway's signal, stripped before the phone, so it is not counted. */
export const USSD_SCREEN_LIMIT = 182;

export type UssdScreenResult = { ok: true; body: string } | { ok: false; reason: string };

/** Septets of a screen text, or a reason when a character has no GSM-7 form (telcos cannot render it). */
export function checkUssdText(
  text: string,
  limit: number = USSD_SCREEN_LIMIT
): { ok: true; septets: number } | { ok: false; reason: string } {
  const septets = countGsm7Septets(text);
  if (septets === undefined) {
    const chars = nonGsm7Characters(text)
      .slice(0, 5)
      .map((c) => JSON.stringify(c))
      .join(', ');
    return { ok: false, reason: `USSD screen has characters outside GSM-7: ${chars}` };
  }
  if (septets > limit) return { ok: false, reason: `USSD screen is ${septets} GSM-7 characters, over ${limit}` };
  return { ok: true, septets };
}

/** The HTTP body for one screen: `CON …` or `END …`, refused when over the limit or not GSM-7. */
export function formatUssdScreen(kind: 'CON' | 'END', text: string): UssdScreenResult {
  const check = checkUssdText(text);
  return check.ok ? { ok: true, body: `${kind} ${text}` } : check;
}

export interface UssdMenu {
  title: string;
  options: readonly string[];
  /** Input and label of the next-page line; default `98 More`. */
  more?: { key: string; label: string };
  /** Input and label of the previous-page line; default `0 Back`. */
  back?: { key: string; label: string };
  limit?: number;
}

export type UssdMenuPages = { ok: true; pages: string[] } | { ok: false; reason: string };

const septets = (s: string) => countGsm7Septets(s) ?? Number.POSITIVE_INFINITY;

/** Screens of a numbered menu, paginated with More/Back lines instead of cut; words and option lines are never split. */
export function buildUssdMenu(menu: UssdMenu): UssdMenuPages {
  const limit = menu.limit ?? USSD_SCREEN_LIMIT;
  const more = menu.more ?? { key: '98', label: 'More' };
  const back = menu.back ?? { key: '0', label: 'Back' };
  if (menu.options.length >= Number(more.key)) return { ok: false, reason: `Too many options for key ${more.key}` };
  const moreLine = `${more.key} ${more.label}`;
  const backLine = `${back.key} ${back.label}`;
  // Title words flow (joined by spaces), option lines are atomic (joined by newlines).
  const words = menu.title.split(/\s+/).filter((w) => w !== '');
  const lines = menu.options.map((o, i) => `${i + 1}. ${o}`);
  for (const t of [...words, ...lines, moreLine, backLine]) {
    const c = checkUssdText(t, limit);
    if (!c.ok) return c;
  }
  const items = [...words.map((w) => ({ text: w, word: true })), ...lines.map((l) => ({ text: l, word: false }))];
  const pages: string[] = [];
  let at = 0;
  while (at < items.length || pages.length === 0) {
    const footer = pages.length > 0 ? [backLine] : [];
    let body = '';
    let next = at;
    const join = (b: string, i: { text: string; word: boolean }, prevWord: boolean) =>
      b === '' ? i.text : `${b}${i.word && prevWord ? ' ' : '\n'}${i.text}`;
    const render = (b: string, f: string[]) => [b, ...f].filter((x) => x !== '').join('\n');
    // Take as many items as fit with the footer of a last page; if not all, leave room for More.
    let prevWord = false;
    while (next < items.length && septets(render(join(body, items[next], prevWord), footer)) <= limit) {
      body = join(body, items[next], prevWord);
      prevWord = items[next].word;
      next++;
    }
    if (next < items.length) {
      const withMore = [...footer, moreLine];
      while (next > at && septets(render(body, withMore)) > limit) {
        next--;
        body = rebuild(items.slice(at, next));
      }
      if (next === at) return { ok: false, reason: 'A USSD menu item does not fit one screen with its navigation' };
      pages.push(render(body, withMore));
    } else pages.push(render(body, footer));
    at = next;
  }
  return { ok: true, pages };
}

/** The body text of a run of items: words joined by spaces, lines by newlines. */
function rebuild(items: { text: string; word: boolean }[]): string {
  let body = '';
  items.forEach((i, k) => {
    body = k === 0 ? i.text : `${body}${i.word && items[k - 1].word ? ' ' : '\n'}${i.text}`;
  });
  return body;
}
