import { describe, expect, test } from 'vitest';
import { MEDIUM_CODINGS, mediumConcept, mediumOf, PARTICIPATION_MODE_SYSTEM } from './medium.js';

describe('messaging medium', () => {
  test('reads back what it writes', () => {
    expect(mediumOf([mediumConcept('sms')])).toBe('sms');
    expect(mediumOf([mediumConcept('whatsapp')])).toBe('whatsapp');
  });

  test('WRITTEN alone is no medium Tiba can send on', () => {
    expect(mediumOf([{ coding: [{ system: PARTICIPATION_MODE_SYSTEM, code: 'WRITTEN' }] }])).toBeUndefined();
    expect(mediumOf(undefined)).toBeUndefined();
    expect(mediumOf([{ text: 'SMS' }])).toBeUndefined();
  });

  test('SMS is v3 SMSWRIT', () => {
    expect(MEDIUM_CODINGS.sms).toEqual([
      { system: PARTICIPATION_MODE_SYSTEM, code: 'SMSWRIT', display: 'SMS message' },
    ]);
  });
});
