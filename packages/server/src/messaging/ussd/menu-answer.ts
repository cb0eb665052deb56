import { formatUssdScreen } from '../text/ussd-screen.js';
import { MAX_STATE_BYTES } from './session-store.js';

/**
 * What a menu bot returns for one screen: `{ screen: 'CON …' | 'END …', state }`, or the screen as
 * `{ type: 'CON' | 'END', text }`. The state comes back on the next screen of the session.
 */
export type MenuAnswer =
  | { ok: true; kind: 'CON' | 'END'; body: string; state: unknown }
  | { ok: false; reason: string };

/** Shown when the bot failed or drew a screen that cannot be sent; both languages the clinic menus speak. */
export const USSD_APOLOGY =
  'END Sorry, this service is not available now. Please try later. Samahani, huduma haipatikani sasa.';
export const USSD_TIME_UP =
  'END Your session has timed out. Please dial again. Muda wa kipindi umekwisha. Tafadhali piga tena.';

/** The bot's value as a screen that fits (≤ 182 GSM-7 characters after CON/END), or why it cannot be sent. */
export function readMenuAnswer(value: unknown): MenuAnswer {
  if (typeof value !== 'object' || value === null) {
    return { ok: false, reason: 'Menu bot returned no { screen, state } object' };
  }
  const { screen, state } = value as { screen?: unknown; state?: unknown };
  let kind: string | undefined;
  let text: string | undefined;
  if (typeof screen === 'string') {
    const match = /^(CON|END)(?: ([\s\S]*))?$/.exec(screen);
    kind = match?.[1];
    text = match?.[2] ?? '';
  } else if (typeof screen === 'object' && screen !== null) {
    const given = screen as { type?: unknown; text?: unknown };
    kind = typeof given.type === 'string' ? given.type : undefined;
    text = typeof given.text === 'string' ? given.text : undefined;
  }
  if ((kind !== 'CON' && kind !== 'END') || text === undefined) {
    return { ok: false, reason: 'Menu bot screen must start with "CON " or "END "' };
  }
  if (kind === 'CON' && text.trim() === '') {
    return { ok: false, reason: 'Menu bot asked for input on an empty screen' };
  }
  const formatted = formatUssdScreen(kind, text);
  if (!formatted.ok) {
    return formatted;
  }
  const stateJson = state === undefined ? '' : JSON.stringify(state);
  if (stateJson.length > MAX_STATE_BYTES) {
    return { ok: false, reason: `Menu bot state is over ${MAX_STATE_BYTES} bytes` };
  }
  return { ok: true, kind, body: formatted.body, state: state ?? null };
}
