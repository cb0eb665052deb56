// GSM 7-bit default alphabet and its basic extension table, 3GPP TS 23.038 §6.2.1.
// https://www.3gpp.org/ftp/Specs/archive/23_series/23.038/

/** The 128 characters of the default alphabet (one septet each), in table order. */
const BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u001bÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';

/** The extension table characters, each sent as ESC + one septet (two septets). */
const EXTENSION = '\f^{}\\[~]|€';

// ESC itself is a table slot, not a character a message may carry.
const BASIC_SET = new Set([...BASIC].filter((c) => c !== '\u001b'));
const EXTENSION_SET = new Set([...EXTENSION]);

/** Septets one character takes in GSM-7 (1 basic, 2 extension), or 0 if it has none. https://www.3gpp.org/ftp/Specs/archive/23_series/23.038/ */
export function gsm7Septets(char: string): 0 | 1 | 2 {
  if (BASIC_SET.has(char)) return 1;
  if (EXTENSION_SET.has(char)) return 2;
  return 0;
}

/** Characters of `text` outside the GSM-7 default alphabet and extension table, each once, in order. */
export function nonGsm7Characters(text: string): string[] {
  const found = new Set<string>();
  for (const char of text) if (gsm7Septets(char) === 0) found.add(char);
  return [...found];
}

/** Total septets of `text` in GSM-7, or undefined when a character has no GSM-7 form. */
export function countGsm7Septets(text: string): number | undefined {
  let septets = 0;
  for (const char of text) {
    const n = gsm7Septets(char);
    if (n === 0) return undefined;
    septets += n;
  }
  return septets;
}
