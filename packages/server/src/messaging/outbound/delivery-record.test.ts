import type { Communication } from '@medplum/fhirtypes';
import { expect, test } from 'vitest';
import { MESSAGE_SID_SYSTEM } from '../twilio/inbound-message.js';
import { applyTwilioStatus, deliveryOf, messageSidOf, setDelivery, TWILIO_ERROR_SYSTEM } from './delivery-record.js';

const SID = `SM${'1'.repeat(32)}`;
const at = new Date('2026-12-03T10:00:00Z');

function sent(): Communication {
  const c: Communication = { resourceType: 'Communication', status: 'in-progress' };
  setDelivery(c, { state: 'sent', twilioStatus: 'queued' });
  return c;
}

test('statuses move forward only: a late sent after delivered and a duplicate change nothing', () => {
  const c = sent();
  expect(applyTwilioStatus(c, { status: 'delivered', at })).toBe(true);
  expect(c.status).toBe('completed');
  expect(c.received).toBe(at.toISOString());
  expect(applyTwilioStatus(c, { status: 'sent', at })).toBe(false);
  expect(applyTwilioStatus(c, { status: 'delivered', at })).toBe(false);
  expect(applyTwilioStatus(c, { status: 'undelivered', errorCode: '30003', at })).toBe(false);
  expect(c.status).toBe('completed');
  expect(deliveryOf(c).twilioStatus).toBe('delivered');
  // WhatsApp's read comes after delivered.
  expect(applyTwilioStatus(c, { status: 'read', at })).toBe(true);
  expect(c.status).toBe('completed');
});

test('undelivered keeps ErrorCode and ErrorMessage; nothing moves it afterwards', () => {
  const c = sent();
  expect(applyTwilioStatus(c, { status: 'sent', at })).toBe(true);
  expect(c.status).toBe('in-progress');
  expect(
    applyTwilioStatus(c, {
      status: 'undelivered',
      errorCode: '30003',
      errorMessage: 'Unreachable destination handset',
      at,
    })
  ).toBe(true);
  expect(c.status).toBe('not-done');
  expect(c.statusReason).toEqual({
    coding: [{ system: TWILIO_ERROR_SYSTEM, code: '30003', display: 'Unreachable destination handset' }],
    text: 'Twilio error 30003: Unreachable destination handset',
  });
  expect(applyTwilioStatus(c, { status: 'read', at })).toBe(false);
  expect(c.status).toBe('not-done');
});

test('a callback that beats the sender records the MessageSid and moves preparation on', () => {
  const c: Communication = { resourceType: 'Communication', status: 'preparation' };
  setDelivery(c, { state: 'sending', since: at.toISOString() });
  expect(applyTwilioStatus(c, { status: 'sent', messageSid: SID, at })).toBe(true);
  expect(c.status).toBe('in-progress');
  expect(messageSidOf(c)).toBe(SID);
  expect(c.identifier).toEqual([{ system: MESSAGE_SID_SYSTEM, value: SID }]);
  expect(deliveryOf(c)).toMatchObject({ state: 'sending', twilioStatus: 'sent' });
});
