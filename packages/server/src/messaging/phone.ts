/** How a message reached us: plain SMS or WhatsApp (Twilio writes WhatsApp addresses as `whatsapp:+E164`). */
export type MessagingMedium = 'sms' | 'whatsapp';

export interface MessagingAddress {
  medium: MessagingMedium;
  /** E.164: `+` then 7 to 15 digits, the first not 0. */
  phone: string;
}

const E164 = /^\+[1-9]\d{6,14}$/;

/**
 * An E.164 number from what people and gateways write: spaces, dots, dashes and parentheses
 * dropped, a leading `00` read as `+`. Undefined when it is not a full international number
 * (a local `0712…` cannot be placed without knowing the country).
 * https://www.itu.int/rec/T-REC-E.164
 */
export function normalizePhone(raw: string): string | undefined {
  let phone = raw.trim().replace(/[\s.\-()]/g, '');
  if (phone.startsWith('00')) {
    phone = `+${phone.slice(2)}`;
  }
  return E164.test(phone) ? phone : undefined;
}

/** A Twilio `From`/`To`: `+254712345678` (SMS) or `whatsapp:+254712345678`. */
export function parseTwilioAddress(raw: string): MessagingAddress | undefined {
  const whatsapp = /^whatsapp:/i.test(raw.trim());
  const phone = normalizePhone(whatsapp ? raw.trim().slice('whatsapp:'.length) : raw);
  return phone ? { medium: whatsapp ? 'whatsapp' : 'sms', phone } : undefined;
}

/** The address as Twilio writes it. */
export function formatTwilioAddress(address: MessagingAddress): string {
  return address.medium === 'whatsapp' ? `whatsapp:${address.phone}` : address.phone;
}

/**
 * The spellings of an E.164 number that a Patient's `telecom` may hold and a token search can
 * match exactly: with and without the `+`.
 */
export function phoneSearchValues(phone: string): string[] {
  return [phone, phone.slice(1)];
}
