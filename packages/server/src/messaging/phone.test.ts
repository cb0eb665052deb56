import { describe, expect, it } from 'vitest';
import { formatTwilioAddress, normalizePhone, parseTwilioAddress, phoneSearchValues } from './phone.js';

describe('normalizePhone', () => {
  it('keeps E.164 and drops separators', () => {
    expect(normalizePhone('+254712345678')).toBe('+254712345678');
    expect(normalizePhone(' +254 (712) 345-678 ')).toBe('+254712345678');
    expect(normalizePhone('00254.712.345.678')).toBe('+254712345678');
  });
  it('refuses numbers that are not international', () => {
    expect(normalizePhone('0712345678')).toBeUndefined();
    expect(normalizePhone('+0712345678')).toBeUndefined();
    expect(normalizePhone('+1234')).toBeUndefined();
    expect(normalizePhone('+2547123456789012')).toBeUndefined();
    expect(normalizePhone('+2547a2345678')).toBeUndefined();
    expect(normalizePhone('')).toBeUndefined();
  });
});

describe('parseTwilioAddress', () => {
  it('reads SMS and WhatsApp addresses', () => {
    expect(parseTwilioAddress('+254712345678')).toEqual({ medium: 'sms', phone: '+254712345678' });
    expect(parseTwilioAddress('whatsapp:+254712345678')).toEqual({ medium: 'whatsapp', phone: '+254712345678' });
    expect(parseTwilioAddress('WhatsApp:+254 712 345 678')).toEqual({ medium: 'whatsapp', phone: '+254712345678' });
    expect(parseTwilioAddress('whatsapp:')).toBeUndefined();
    expect(parseTwilioAddress('messenger:+254712345678')).toBeUndefined();
  });
  it('writes them back as Twilio does', () => {
    expect(formatTwilioAddress({ medium: 'whatsapp', phone: '+1415' })).toBe('whatsapp:+1415');
    expect(formatTwilioAddress({ medium: 'sms', phone: '+1415' })).toBe('+1415');
  });
  it('searches a number with and without its plus', () => {
    expect(phoneSearchValues('+254712345678')).toEqual(['+254712345678', '254712345678']);
  });
});
