import type { Communication, CommunicationRequest, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { MEDIUM_CODINGS } from '../medium.js';
import { DEFAULT_TEMPLATE_TEXTS } from '../text/template-texts.js';
import { renderTemplate, templatePlaceholders } from '../text/templates.js';
import { MESSAGE_SID_SYSTEM } from '../twilio/inbound-message.js';
import { deliveryOf, TWILIO_ERROR_SYSTEM } from './delivery-record.js';
import { newPhone, OutboundHarness, SMS_NUMBER, WHATSAPP_NUMBER } from './outbound.fixtures.js';
import { MESSAGE_TEMPLATE_EXTENSION, QUIET_HOURS_SETTING, TIME_ZONE_SETTING } from './request-parts.js';

const templateVariables = (name: keyof typeof DEFAULT_TEMPLATE_TEXTS) =>
  templatePlaceholders(DEFAULT_TEMPLATE_TEXTS[name].sw);
function expectedText(name: keyof typeof DEFAULT_TEMPLATE_TEXTS, language: 'en' | 'sw', vars: Record<string, string>) {
  const rendered = renderTemplate(DEFAULT_TEMPLATE_TEXTS[name][language], vars);
  return rendered.ok ? rendered.text : rendered.reason;
}

import { type OutboundContext, sendCommunicationRequest } from './send-request.js';

let h: OutboundHarness;

beforeAll(async () => {
  h = await OutboundHarness.start();
});

afterAll(async () => {
  await h?.close();
});

const isFinal = (c: Communication) => c.status === 'completed' || c.status === 'not-done';

/** The single sending function with the harness's server settings and a clock of the test's choosing. */
function directContext(now: Date): OutboundContext {
  return {
    systemRepo: h.systemRepo,
    baseUrl: h.server.config.baseUrl,
    twilioApiBaseUrl: h.standIn.url,
    now: () => now,
    logger: h.server.app.log,
  };
}

describe('outbound SMS from a CommunicationRequest', () => {
  test('is sent once through Twilio and follows its status callbacks to completed', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    const request = await h.createRequest(patient, 'Habari Amina, kumbuka miadi yako kesho saa 3 asubuhi.');
    const message = await h.waitForMessage(request.id, (c) => c.status === 'completed');
    const [sent] = h.sentTo(phone);
    expect(h.sentTo(phone)).toHaveLength(1);
    expect(sent).toMatchObject({ from: SMS_NUMBER, to: phone, body: request.payload?.[0].contentString });
    expect(message.identifier).toContainEqual({ system: MESSAGE_SID_SYSTEM, value: sent.sid });
    expect(message).toMatchObject({
      basedOn: [{ reference: `CommunicationRequest/${request.id}` }],
      subject: { reference: `Patient/${patient.id}` },
      recipient: [{ reference: `Patient/${patient.id}` }],
      payload: [{ contentString: sent.body }],
    });
    expect(message.sent).toBeTruthy();
    expect(message.received).toBeTruthy();
    expect(deliveryOf(message).twilioStatus).toBe('delivered');
    await h.waitForRequestStatus(request.id, 'completed');
  });

  test('after the patient texted STOP, nothing is sent and the message says why', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    const stop = await h.standIn.sendInbound({ from: phone, to: SMS_NUMBER, body: 'STOP' });
    expect(stop.webhook.status).toBe(200);
    const request = await h.createRequest(patient, 'Reminder: your appointment is tomorrow.');
    const message = await h.waitForMessage(request.id, isFinal);
    expect(message.status).toBe('not-done');
    expect(message.statusReason?.coding?.[0].code).toBe('OPTOUT');
    expect(message.statusReason?.text).toContain('opted out');
    expect(h.sentTo(phone)).toHaveLength(0);
    await h.waitForRequestStatus(request.id, 'revoked');
  });

  test('Twilio 503 then success: retried with backoff, one message', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    h.standIn.faults.nextSendStatuses.push(503);
    const request = await h.createRequest(patient, 'Second try works.');
    const message = await h.waitForMessage(request.id, (c) => c.status === 'completed');
    expect(h.sentTo(phone)).toHaveLength(1);
    expect(deliveryOf(message).attempts).toBe(2);
    expect(message.statusReason).toBeUndefined();
  });

  test('a permanent Twilio error (21610) ends the request and is kept in statusReason', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    // Opted out at Twilio only (e.g. before Tiba knew the number): Twilio refuses with 21610.
    h.standIn.state.optOut(SMS_NUMBER, phone);
    const request = await h.createRequest(patient, 'Refused by Twilio.');
    const message = await h.waitForMessage(request.id, isFinal);
    expect(message.status).toBe('not-done');
    expect(message.statusReason?.coding).toEqual([
      { system: TWILIO_ERROR_SYSTEM, code: '21610', display: 'Attempt to send to unsubscribed recipient' },
    ]);
    expect(message.statusReason?.text).toBe('Twilio error 21610: Attempt to send to unsubscribed recipient');
    expect(h.sentTo(phone)).toHaveLength(0);
    await h.waitForRequestStatus(request.id, 'revoked');
  });

  test('Twilio failing every try: gives up after the last attempt with the last error', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    h.standIn.faults.nextSendStatuses.push(500, 429, 503);
    const request = await h.createRequest(patient, 'Never goes.');
    const message = await h.waitForMessage(request.id, isFinal);
    expect(message.status).toBe('not-done');
    expect(message.statusReason?.text).toBe('Gave up after 3 attempt(s): Twilio error 20503: Service Unavailable');
    expect(h.sentTo(phone)).toHaveLength(0);
  });

  test('undelivered (30003) arrives by callback and is kept in statusReason', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    h.standIn.faults.undeliverable.set(phone, 30003);
    const request = await h.createRequest(patient, 'To a switched-off phone.');
    const message = await h.waitForMessage(request.id, isFinal);
    expect(message.status).toBe('not-done');
    expect(message.statusReason?.coding?.[0]).toMatchObject({ system: TWILIO_ERROR_SYSTEM, code: '30003' });
    expect(message.statusReason?.text).toBe('Twilio error 30003: Unreachable destination handset');
    expect(h.sentTo(phone)).toHaveLength(1);
  });

  test('status callbacks reversed and repeated: delivered is never moved back to sent', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    h.standIn.faults.callbacksReversed = true;
    h.standIn.faults.callbacksTwice = true;
    try {
      const request = await h.createRequest(patient, 'Out of order.');
      await h.waitForMessage(request.id, (c) => c.status === 'completed');
      await h.standIn.settled();
      const statuses = h.standIn.callbacks.filter((c) => c.params.To === phone).map((c) => c.params.MessageStatus);
      expect(statuses).toEqual(['delivered', 'delivered', 'sent', 'sent']);
      const [message] = await h.messagesFor(request.id);
      expect(message.status).toBe('completed');
      expect(deliveryOf(message).twilioStatus).toBe('delivered');
      // Each callback was answered, none failed.
      expect(h.standIn.callbacks.filter((c) => c.params.To === phone).map((c) => c.answer)).toEqual([
        204, 204, 204, 204,
      ]);
    } finally {
      h.standIn.faults.callbacksReversed = false;
      h.standIn.faults.callbacksTwice = false;
    }
  });

  test('over 3 segments is refused with the reason, nothing sent', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    const request = await h.createRequest(patient, 'Long message. '.repeat(40)); // 560 GSM-7 characters: 4 segments
    const message = await h.waitForMessage(request.id, isFinal);
    expect(message.status).toBe('not-done');
    expect(message.statusReason?.text).toMatch(/^Message needs 4 SMS segments, over the limit of 3/);
    expect(h.sentTo(phone)).toHaveLength(0);
  });
});

describe('templates', () => {
  test("a templated request goes out in the patient's language; a missing variable is refused", async () => {
    const phone = newPhone();
    const patient = await h.create<Patient>({
      resourceType: 'Patient',
      telecom: [{ system: 'phone', use: 'mobile', value: phone }],
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'sw' }] }, preferred: true }],
    });
    const template = (vars: Record<string, string>) => ({
      url: MESSAGE_TEMPLATE_EXTENSION,
      extension: [
        { url: 'name', valueCode: 'medicine-reminder' },
        ...Object.entries(vars).map(([name, value]) => ({
          url: 'variable',
          extension: [
            { url: 'name', valueString: name },
            { url: 'value', valueString: value },
          ],
        })),
      ],
    });
    const vars = Object.fromEntries(templateVariables('medicine-reminder').map((name) => [name, `x${name}`]));
    const request = await h.createRequest(patient, 'unused', { payload: undefined, extension: [template(vars)] });
    await h.waitForMessage(request.id, (c) => c.status === 'completed');
    const [sent] = h.sentTo(phone);
    expect(sent.body).toBe(expectedText('medicine-reminder', 'sw', vars));

    const other = newPhone();
    const second = await h.createPatient(other);
    const incomplete = await h.createRequest(second, 'unused', { payload: undefined, extension: [template({})] });
    const refused = await h.waitForMessage(incomplete.id, isFinal);
    expect(refused.status).toBe('not-done');
    expect(refused.statusReason?.text).toMatch(/Missing template variable/);
    expect(h.sentTo(other)).toHaveLength(0);
  });
});

describe('recipients', () => {
  test('a RelatedPerson (a caregiver) with an sms telecom gets it; the message is about the patient', async () => {
    const patient = await h.createPatient(newPhone());
    const caregiverPhone = newPhone();
    const caregiver = await h.create({
      resourceType: 'RelatedPerson',
      patient: { reference: `Patient/${patient.id}` },
      telecom: [{ system: 'sms', value: caregiverPhone.replace('+254', '00254') }],
    });
    const request = await h.createRequest(patient, 'For the caregiver.', {
      recipient: [{ reference: `RelatedPerson/${caregiver.id}` }],
    });
    const message = await h.waitForMessage(request.id, (c) => c.status === 'completed');
    expect(message.recipient).toEqual([{ reference: `RelatedPerson/${caregiver.id}` }]);
    expect(message.subject).toEqual({ reference: `Patient/${patient.id}` });
    expect(h.sentTo(caregiverPhone).map((m) => m.body)).toEqual(['For the caregiver.']);
  });

  test('no mobile number (a home phone only) is refused with the reason', async () => {
    const phone = newPhone();
    const patient = await h.create<Patient>({
      resourceType: 'Patient',
      telecom: [{ system: 'phone', use: 'home', value: phone }],
    });
    const request = await h.createRequest(patient, 'Nowhere to go.');
    const message = await h.waitForMessage(request.id, isFinal);
    expect(message.status).toBe('not-done');
    expect(message.statusReason?.text).toMatch(/no Patient or RelatedPerson recipient with a mobile number/);
    expect(h.standIn.thread(phone)).toHaveLength(0);
  });
});

describe('outbound WhatsApp', () => {
  test('outside the 24-hour window Twilio fails it with 63016 (kept); after the patient writes, it is delivered', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    const whatsapp = { medium: [{ coding: MEDIUM_CODINGS.whatsapp }] };
    const first = await h.createRequest(patient, 'Habari kutoka kliniki.', whatsapp);
    const refused = await h.waitForMessage(first.id, isFinal);
    expect(refused.status).toBe('not-done');
    expect(refused.statusReason?.coding?.[0].code).toBe('63016');
    expect(refused.medium?.[0].coding).toEqual(MEDIUM_CODINGS.whatsapp);
    expect(h.sentTo(phone, 'whatsapp').map((m) => [m.from, m.to])).toEqual([
      [`whatsapp:${WHATSAPP_NUMBER}`, `whatsapp:${phone}`],
    ]);

    const hello = await h.standIn.sendInbound({
      from: `whatsapp:${phone}`,
      to: `whatsapp:${WHATSAPP_NUMBER}`,
      body: 'Hello',
    });
    expect(hello.webhook.status).toBe(200);
    const second = await h.createRequest(patient, 'Karibu!', whatsapp);
    expect((await h.waitForMessage(second.id, isFinal)).status).toBe('completed');
    expect(h.sentTo(phone)).toHaveLength(0); // nothing went by SMS
  });
});

describe('exactly once', () => {
  test('the same request run by three jobs at once, then updated twice: one message', async () => {
    const phone = newPhone();
    const patient = await h.createPatient(phone);
    // Scheduled far ahead, so the server's own job waits; the test's clock says it is time.
    const request = await h.createRequest(patient, 'Only once.', { occurrenceDateTime: '2031-03-01T10:00:00Z' });
    const [waiting] = await h.waitForJobs(request.id);
    // The server's job waits in BullMQ's delayed set until the request's time, not in a process.
    expect(waiting.state).toBe('delayed');
    // (BullMQ keeps the delay relative to the job's creation, within a few ms of the moment it was moved.)
    expect(Math.abs(waiting.job.timestamp + waiting.job.delay - Date.parse('2031-03-01T10:00:00Z'))).toBeLessThan(1000);
    const ctx = directContext(new Date('2031-03-01T10:01:00Z'));
    const input = { requestId: request.id, attempt: 1, maxAttempts: 3 };
    const outcomes = await Promise.all([1, 2, 3].map(() => sendCommunicationRequest(ctx, input)));
    expect(outcomes.map((o) => o.kind).sort()).toEqual(['sent', 'skipped', 'skipped']);
    // Two more updates of the request (back to active) queue two more jobs: they find the record.
    for (const note of ['first edit', 'second edit']) {
      const current = await h.read<CommunicationRequest>(`CommunicationRequest/${request.id}`);
      const res = await h.server.request({
        method: 'PUT',
        url: `/fhir/R4/CommunicationRequest/${request.id}`,
        payload: { ...current, status: 'active', occurrenceDateTime: undefined, note: [{ text: note }] },
      });
      expect(res.statusCode, res.body).toBe(200);
    }
    await h.waitForJobs(request.id);
    expect(await sendCommunicationRequest(ctx, input)).toMatchObject({ kind: 'skipped' });
    await h.waitForMessage(request.id, (c) => c.status === 'completed');
    expect(h.sentTo(phone)).toHaveLength(1);
  });
});

describe('quiet hours (injected clock)', () => {
  test('a routine message at 22:30 in Nairobi waits until 07:00; an urgent one goes at once', async () => {
    await h.setMessagingSettings({ [TIME_ZONE_SETTING]: 'Africa/Nairobi', [QUIET_HOURS_SETTING]: '21:00-07:00' });
    try {
      const phone = newPhone();
      const patient = await h.createPatient(phone);
      // 22:30 in Nairobi (UTC+3) on a day far ahead: the server's own job waits for that day.
      const at = '2031-05-01T19:30:00Z';
      const routine = await h.createRequest(patient, 'Routine.', { occurrenceDateTime: at });
      const urgent = await h.createRequest(patient, 'Urgent.', { occurrenceDateTime: at, priority: 'urgent' });
      await h.waitForJobs(routine.id);
      await h.waitForJobs(urgent.id);
      const night = directContext(new Date('2031-05-01T19:31:00Z'));
      const input = (requestId: string) => ({ requestId, attempt: 1, maxAttempts: 3 });
      expect(await sendCommunicationRequest(night, input(routine.id))).toEqual({
        kind: 'later',
        at: new Date('2031-05-02T04:00:00Z'), // 07:00 in Nairobi
      });
      expect(await h.messagesFor(routine.id)).toHaveLength(0);
      expect(await sendCommunicationRequest(night, input(urgent.id))).toMatchObject({ kind: 'sent' });
      const morning = directContext(new Date('2031-05-02T04:00:00Z'));
      expect(await sendCommunicationRequest(morning, input(routine.id))).toMatchObject({ kind: 'sent' });
      expect(h.sentTo(phone).map((m) => m.body)).toEqual(['Urgent.', 'Routine.']);
    } finally {
      await h.setMessagingSettings({ [QUIET_HOURS_SETTING]: 'off' });
    }
  });
});
