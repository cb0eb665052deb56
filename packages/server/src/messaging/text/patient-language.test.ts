import type { Patient } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { chooseLanguage, matchLanguage, patientLanguageTags } from './patient-language.js';

const lang = (code: string, preferred?: boolean, system = 'urn:ietf:bcp:47') => ({
  language: { coding: [{ system, code }] },
  ...(preferred === undefined ? {} : { preferred }),
});

const patient = (...communication: NonNullable<Patient['communication']>): Patient => ({
  resourceType: 'Patient',
  communication,
});

describe('patientLanguageTags', () => {
  it('puts preferred languages first, then the first listed', () => {
    expect(patientLanguageTags(patient(lang('en'), lang('sw-KE', true)))).toEqual(['sw-KE', 'en']);
    expect(patientLanguageTags(patient(lang('luo'), lang('sw')))).toEqual(['luo']);
  });

  it('reads a coding without a system and ignores other code systems', () => {
    expect(patientLanguageTags(patient({ language: { coding: [{ code: 'sw' }] } }))).toEqual(['sw']);
    expect(patientLanguageTags(patient(lang('swa', true, 'urn:iso:std:iso:639-2')))).toEqual([]);
    expect(patientLanguageTags(undefined)).toEqual([]);
    expect(patientLanguageTags({})).toEqual([]);
  });
});

describe('matchLanguage', () => {
  it('matches exactly, then by primary subtag, case-insensitively', () => {
    expect(matchLanguage('sw-KE', ['en', 'sw'])).toBe('sw');
    expect(matchLanguage('SW', ['en', 'sw-TZ'])).toBe('sw-TZ');
    expect(matchLanguage('sw-KE', ['sw-TZ', 'sw-KE'])).toBe('sw-KE');
    expect(matchLanguage('fr', ['en', 'sw'])).toBeUndefined();
  });
});

describe('chooseLanguage', () => {
  const available = ['en', 'sw'];
  it("uses the patient's preferred language", () => {
    expect(chooseLanguage(patient(lang('en'), lang('sw-KE', true)), available, 'en')).toBe('sw');
  });
  it('falls back to the first listed when none is preferred', () => {
    expect(chooseLanguage(patient(lang('sw'), lang('en')), available, 'en')).toBe('sw');
  });
  it('falls back to the project default, then en', () => {
    expect(chooseLanguage(patient(lang('fr')), available, 'sw')).toBe('sw');
    expect(chooseLanguage(patient(lang('fr')), available, 'de')).toBe('en');
    expect(chooseLanguage(undefined, available)).toBe('en');
  });
  it('gives undefined when nothing matches', () => {
    expect(chooseLanguage(undefined, ['sw'], 'fr')).toBeUndefined();
  });
});
