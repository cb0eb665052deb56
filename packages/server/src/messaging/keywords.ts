/** What an inbound text asks for, by the carrier-standard keywords (as Twilio's Advanced Opt-Out reads them). */
export type Keyword = 'stop' | 'start' | 'help';

const KEYWORDS: Record<string, Keyword> = {
  STOP: 'stop',
  STOPALL: 'stop',
  UNSUBSCRIBE: 'stop',
  CANCEL: 'stop',
  END: 'stop',
  QUIT: 'stop',
  START: 'start',
  YES: 'start',
  UNSTOP: 'start',
  HELP: 'help',
  INFO: 'help',
};

/**
 * The keyword a message is, when the whole message is one (case-insensitive, surrounding
 * spaces and punctuation ignored): "stop", " Stop. " are; "please stop" is not.
 * https://help.twilio.com/articles/223134027
 */
export function keywordOf(body: string | undefined): Keyword | undefined {
  const word = (body ?? '')
    .trim()
    .replace(/^[\s\p{P}]+|[\s\p{P}]+$/gu, '')
    .toUpperCase();
  return Object.hasOwn(KEYWORDS, word) ? KEYWORDS[word] : undefined;
}
