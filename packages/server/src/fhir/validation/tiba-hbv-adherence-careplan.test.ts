import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CarePlan, Extension } from '@medplum/fhirtypes';
import { beforeAll, describe, expect, test } from 'vitest';
import { getRegisteredProfile, loadFhirDefinitions, readProfileFolder, registerProfile } from '../definitions.js';
import { collectValidationIssues, validateFhirResource } from './validate-resource.js';

/** The shipped profile `fhir-profiles/tiba-hbv-adherence-careplan.json`, as the server loads it at start. */
const PROFILE_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../../../fhir-profiles');
const URL = 'https://tiba.health/fhir/StructureDefinition/tiba-hbv-adherence-careplan';
const EXT = 'https://tiba.health/fhir/StructureDefinition';

const schedule = (dayOfWeek: string, hourOfDay: number): Extension => ({
  url: `${EXT}/programme-checkin-schedule`,
  extension: [
    { url: 'dayOfWeek', valueCode: dayOfWeek },
    { url: 'hourOfDay', valueInteger: hourOfDay },
  ],
});
const language = (code: string): Extension => ({ url: `${EXT}/programme-language`, valueCode: code });
const channel = (code: string): Extension => ({ url: `${EXT}/programme-channel`, valueCode: code });
const messaging = (code: string): Extension => ({ url: `${EXT}/programme-messaging-state`, valueCode: code });

const conforming: CarePlan = {
  resourceType: 'CarePlan',
  meta: { profile: [URL] },
  status: 'active',
  intent: 'plan',
  category: [{ coding: [{ system: 'https://tiba.health/fhir/CodeSystem/programme', code: 'hepatitis-b-adherence' }] }],
  subject: { reference: 'Patient/amina' },
  period: { start: '2026-12-01T09:00:00Z' },
  extension: [schedule('mon', 9), language('sw'), channel('sms'), messaging('permitted')],
  activity: [{ reference: { reference: 'MedicationRequest/tdf-1' } }],
};

function errorsOf(resource: CarePlan): string[] {
  return collectValidationIssues(resource)
    .filter((i) => i.severity === 'error')
    .map((i) => `${i.expression?.[0]}: ${i.details?.text}`);
}

const withExtensions = (...extension: Extension[]): CarePlan => ({ ...conforming, extension });

beforeAll(() => {
  loadFhirDefinitions();
  for (const sd of readProfileFolder(PROFILE_DIR)) {
    registerProfile(sd);
  }
});

test('the profile ships with a snapshot and is registered by its canonical URL', () => {
  expect(getRegisteredProfile(URL)).toMatchObject({ type: 'CarePlan', derivation: 'constraint', kind: 'resource' });
  expect(getRegisteredProfile(URL)?.snapshot?.element.length).toBeGreaterThan(40);
});

describe('tiba-hbv-adherence-careplan', () => {
  test('a conforming enrolment passes, with or without the messaging state, in any language tag', () => {
    expect(() => validateFhirResource(conforming)).not.toThrow();
    expect(errorsOf(withExtensions(schedule('sun', 0), language('en-KE'), channel('ussd')))).toEqual([]);
    expect(
      errorsOf({
        ...conforming,
        status: 'draft',
        extension: [...conforming.extension!.slice(0, 3), messaging('awaiting-consent')],
      })
    ).toEqual([]);
  });

  test('intent other than plan fails', () => {
    expect(errorsOf({ ...conforming, intent: 'proposal' })).toEqual([expect.stringMatching(/^CarePlan\.intent: /)]);
  });

  test('the programme category is required', () => {
    const { category: _, ...noCategory } = conforming;
    expect(errorsOf(noCategory).join('\n')).toMatch(/CarePlan\.category: .*Missing required/);
    const other = { ...conforming, category: [{ coding: [{ system: 'http://snomed.info/sct', code: '736271009' }] }] };
    expect(errorsOf(other)).toEqual([expect.stringMatching(/tiba-hbv-cp-1/)]);
  });

  test('the subject is required and must be a Patient', () => {
    const { subject: _, ...noSubject } = conforming;
    expect(errorsOf(noSubject as CarePlan)).toEqual([expect.stringMatching(/^CarePlan\.subject: .*Missing required/)]);
    expect(errorsOf({ ...conforming, subject: { reference: 'Group/ward-3' } })).toEqual([
      expect.stringMatching(/tiba-hbv-cp-6/),
    ]);
  });

  test('the period and its start are required', () => {
    const { period: _, ...noPeriod } = conforming;
    expect(errorsOf(noPeriod)).toEqual([expect.stringMatching(/^CarePlan\.period: .*Missing required/)]);
    expect(errorsOf({ ...conforming, period: { end: '2027-01-01' } })).toEqual([
      expect.stringMatching(/tiba-hbv-cp-7/),
    ]);
  });

  test('the schedule must be there once, with a day of the week and an hour 0–23', () => {
    const rest = [language('sw'), channel('sms')];
    expect(errorsOf(withExtensions(...rest))).toEqual([expect.stringMatching(/tiba-hbv-cp-2/)]);
    expect(errorsOf(withExtensions(schedule('monday', 9), ...rest))).toEqual([expect.stringMatching(/tiba-hbv-cp-2/)]);
    expect(errorsOf(withExtensions(schedule('mon', 24), ...rest))).toEqual([expect.stringMatching(/tiba-hbv-cp-2/)]);
    expect(errorsOf(withExtensions(schedule('mon', -1), ...rest))).toEqual([expect.stringMatching(/tiba-hbv-cp-2/)]);
    const noHour = { ...schedule('mon', 9), extension: [{ url: 'dayOfWeek', valueCode: 'mon' }] };
    expect(errorsOf(withExtensions(noHour, ...rest))).toEqual([expect.stringMatching(/tiba-hbv-cp-2/)]);
    expect(errorsOf(withExtensions(schedule('mon', 9), schedule('tue', 9), ...rest))).toEqual([
      expect.stringMatching(/tiba-hbv-cp-2/),
    ]);
  });

  test('the language must be one BCP 47 tag', () => {
    const rest = [schedule('mon', 9), channel('sms')];
    expect(errorsOf(withExtensions(...rest))).toEqual([expect.stringMatching(/tiba-hbv-cp-3/)]);
    expect(errorsOf(withExtensions(...rest, language('Kiswahili please')))).toEqual([
      expect.stringMatching(/tiba-hbv-cp-3/),
    ]);
  });

  test('the channel must be sms, whatsapp or ussd, and the messaging state one of its codes', () => {
    const rest = [schedule('mon', 9), language('en')];
    expect(errorsOf(withExtensions(...rest))).toEqual([expect.stringMatching(/tiba-hbv-cp-4/)]);
    expect(errorsOf(withExtensions(...rest, channel('email')))).toEqual([expect.stringMatching(/tiba-hbv-cp-4/)]);
    expect(errorsOf(withExtensions(...rest, channel('whatsapp')))).toEqual([]);
    expect(errorsOf(withExtensions(...rest, channel('sms'), messaging('maybe')))).toEqual([
      expect.stringMatching(/tiba-hbv-cp-5/),
    ]);
  });
});
