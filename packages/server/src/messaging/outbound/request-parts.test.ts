import type { CommunicationRequest } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { DEFAULT_QUIET_HOURS } from '../text/quiet-hours.js';
import { isUrgent, MESSAGE_TEMPLATE_EXTENSION, messageText, sendTime, templatedText } from './request-parts.js';

const nairobi = { timeZone: 'Africa/Nairobi', quietHours: DEFAULT_QUIET_HOURS };
const request = (extra: Partial<CommunicationRequest> = {}): CommunicationRequest => ({
  resourceType: 'CommunicationRequest',
  status: 'active',
  ...extra,
});

test('a routine request at night waits for 07:00 local; urgent, asap and stat do not', () => {
  const night = new Date('2026-12-03T20:00:00Z'); // 23:00 in Nairobi
  expect(sendTime(request(), nairobi, night)).toEqual(new Date('2026-12-04T04:00:00Z'));
  expect(sendTime(request({ priority: 'routine' }), nairobi, night)).toEqual(new Date('2026-12-04T04:00:00Z'));
  for (const priority of ['urgent', 'asap', 'stat'] as const) {
    expect(isUrgent(request({ priority }))).toBe(true);
    expect(sendTime(request({ priority }), nairobi, night)).toEqual(night);
  }
});

test('occurrenceDateTime in the future is the earliest time, then quiet hours apply to it', () => {
  const now = new Date('2026-12-03T09:00:00Z');
  const later = '2026-12-03T12:00:00Z'; // 15:00 in Nairobi
  expect(sendTime(request({ occurrenceDateTime: later }), nairobi, now)).toEqual(new Date(later));
  const lateEvening = '2026-12-03T19:00:00Z'; // 22:00 in Nairobi
  expect(sendTime(request({ occurrenceDateTime: lateEvening }), nairobi, now)).toEqual(
    new Date('2026-12-04T04:00:00Z')
  );
  // In the past, or not a date: now.
  expect(sendTime(request({ occurrenceDateTime: '2020-01-01T00:00:00Z' }), nairobi, now)).toEqual(now);
  expect(sendTime(request({ occurrenceDateTime: 'soon' }), nairobi, now)).toEqual(now);
  // Quiet hours off: any hour.
  const off = { timeZone: 'Africa/Nairobi', quietHours: { start: 0, end: 0 } };
  expect(sendTime(request({ occurrenceDateTime: lateEvening }), off, now)).toEqual(new Date(lateEvening));
});

test('the text is the string payloads, blank ones left out', () => {
  expect(
    messageText(
      request({ payload: [{ contentString: 'Habari' }, { contentString: ' ' }, { contentString: 'Kwaheri' }] })
    )
  ).toBe('Habari\n\nKwaheri');
  expect(messageText(request({ payload: [{ contentAttachment: { url: 'https://example.org/x.png' } }] }))).toBe('');
  expect(messageText(request())).toBe('');
});

/** The messaging-template extension naming `name` with these variables. */
const templateExtension = (name: string, vars: Record<string, string>) => ({
  url: MESSAGE_TEMPLATE_EXTENSION,
  extension: [
    { url: 'name', valueCode: name },
    ...Object.entries(vars).map(([key, value]) => ({
      url: 'variable',
      extension: [
        { url: 'name', valueString: key },
        { url: 'value', valueString: value },
      ],
    })),
  ],
});

test("a templated request is written in the recipient's language, the project's wording first", () => {
  const vars = { name: 'Amina', clinic: 'Tiba', date: '12 Jan', time: '09:00', phone: '+254700000000' };
  const templated = request({ extension: [templateExtension('appointment-reminder', vars)] });
  const swahili = { communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'sw' }] } }] };
  const sw = templatedText(templated, swahili, {});
  expect(sw?.ok && sw.text).toMatch(/^Habari Amina, .*12 Jan/);
  const english = templatedText(templated, {}, {});
  expect(english?.ok && english.text).toMatch(/^Hello Amina, .*12 Jan/);
  const own = templatedText(templated, swahili, {
    texts: { 'appointment-reminder': { sw: '{{clinic}}: miadi {{date}} saa {{time}}.' } },
  });
  expect(own).toEqual({ ok: true, text: 'Tiba: miadi 12 Jan saa 09:00.' });
  // A missing variable is refused with its name, never sent with a hole.
  const missing = templatedText(
    request({ extension: [templateExtension('appointment-reminder', { name: 'A' })] }),
    {},
    {}
  );
  expect(missing?.ok === false && missing.reason).toMatch(/clinic/);
  expect(templatedText(request({ extension: [templateExtension('', {})] }), {}, {})).toMatchObject({ ok: false });
  expect(templatedText(request(), {}, {})).toBeUndefined();
});
