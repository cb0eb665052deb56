import type { BotEvent } from '@medplum/core';
import type { Consent, Patient } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { beforeEach, describe, expect, test } from 'vitest';
import {
  CONSENT_REQUEST_TEXT,
  findMobileNumber,
  handler,
  LOINC,
  PARTICIPATION_MODE,
  REQUEST_IDENTIFIER_SYSTEM,
  SMS_CONSENT_CODE,
} from './index.js';

const MOBILE = { system: 'phone', use: 'mobile', value: '+254712345678' } as const;

function eventFor(patient: Patient): BotEvent<Patient> {
  return {
    bot: { reference: 'Bot/sms-consent-request-test' },
    input: patient,
    contentType: 'application/fhir+json',
    secrets: {},
  };
}

describe('sms-consent-request', () => {
  let medplum: MockClient;

  beforeEach(() => {
    medplum = new MockClient();
  });

  async function requestsFor(patient: Patient) {
    return medplum.searchResources('CommunicationRequest', { subject: `Patient/${patient.id}` });
  }

  test('a patient with a mobile number and no consent decision gets a consent request', async () => {
    const patient = await medplum.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Amina'], family: 'Otieno' }],
      telecom: [{ system: 'email', value: 'amina@example.com' }, MOBILE],
    });

    const result = await handler(medplum, eventFor(patient));

    const requests = await requestsFor(patient);
    expect(requests).toHaveLength(1);
    const request = requests[0];
    expect(result).toEqual({ outcome: 'created', communicationRequest: `CommunicationRequest/${request.id}` });
    expect(request.status).toBe('active');
    expect(request.subject?.reference).toBe(`Patient/${patient.id}`);
    expect(request.subject?.display).toBe('Amina Otieno');
    expect(request.recipient?.[0]?.reference).toBe(`Patient/${patient.id}`);
    expect(request.medium?.[0]?.coding?.[0]).toMatchObject({ system: PARTICIPATION_MODE, code: 'SMSWRIT' });
    expect(request.reasonCode?.[0]?.coding?.[0]).toMatchObject({ system: LOINC, code: SMS_CONSENT_CODE });
    expect(request.payload?.[0]?.contentString).toBe(CONSENT_REQUEST_TEXT);
    expect(request.identifier).toEqual([{ system: REQUEST_IDENTIFIER_SYSTEM, value: `Patient/${patient.id}` }]);
  });

  test('a patient without a mobile number gets nothing', async () => {
    const patient = await medplum.createResource<Patient>({
      resourceType: 'Patient',
      telecom: [
        { system: 'phone', use: 'home', value: '+254201234567' },
        { system: 'email', value: 'nomobile@example.com' },
      ],
    });

    const result = await handler(medplum, eventFor(patient));

    expect(result).toEqual({ outcome: 'skipped', reason: 'the patient has no mobile number' });
    expect(await requestsFor(patient)).toHaveLength(0);
  });

  test('a patient who already decided on SMS consent gets nothing', async () => {
    const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', telecom: [MOBILE] });
    await medplum.createResource<Consent>({
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: LOINC, code: SMS_CONSENT_CODE }] }],
      patient: { reference: `Patient/${patient.id}` },
      provision: { type: 'deny' },
    });

    const result = await handler(medplum, eventFor(patient));

    expect(result).toEqual({ outcome: 'skipped', reason: 'the patient already has an SMS consent decision' });
    expect(await requestsFor(patient)).toHaveLength(0);
  });

  test('a consent entered in error is no decision', async () => {
    const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', telecom: [MOBILE] });
    await medplum.createResource<Consent>({
      resourceType: 'Consent',
      status: 'entered-in-error',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: LOINC, code: SMS_CONSENT_CODE }] }],
      patient: { reference: `Patient/${patient.id}` },
    });

    expect(await handler(medplum, eventFor(patient))).toMatchObject({ outcome: 'created' });
  });

  test('running twice for one patient creates one request (at-least-once delivery)', async () => {
    const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', telecom: [MOBILE] });

    const first = await handler(medplum, eventFor(patient));
    const second = await handler(medplum, eventFor(patient));

    expect(first).toMatchObject({ outcome: 'created' });
    expect(second).toEqual({ outcome: 'skipped', reason: 'an SMS consent request is already open' });
    expect(await requestsFor(patient)).toHaveLength(1);
  });

  test('an open consent request made by someone else counts too', async () => {
    const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', telecom: [MOBILE] });
    await medplum.createResource({
      resourceType: 'CommunicationRequest',
      status: 'active',
      subject: { reference: `Patient/${patient.id}` },
      reasonCode: [{ coding: [{ system: LOINC, code: SMS_CONSENT_CODE }] }],
    });

    const result = await handler(medplum, eventFor(patient));

    expect(result).toEqual({ outcome: 'skipped', reason: 'an SMS consent request is already open' });
    expect(await requestsFor(patient)).toHaveLength(1);
  });

  test('a patient deleted before the run gets nothing', async () => {
    const patient = await medplum.createResource<Patient>({ resourceType: 'Patient', telecom: [MOBILE] });
    await medplum.deleteResource('Patient', patient.id);

    const result = await handler(medplum, eventFor(patient));

    expect(result).toEqual({ outcome: 'skipped', reason: `Patient/${patient.id} no longer exists` });
  });

  test('input that is not a stored Patient is ignored', async () => {
    const result = await handler(medplum, eventFor({ resourceType: 'Patient', telecom: [MOBILE] }));
    expect(result).toEqual({ outcome: 'skipped', reason: 'the input is not a stored Patient' });
  });

  test('findMobileNumber takes current mobile phone or sms numbers only', () => {
    const now = new Date('2025-06-01T00:00:00Z');
    const patient = (telecom: Patient['telecom']): Patient => ({ resourceType: 'Patient', telecom });
    expect(findMobileNumber(patient([{ system: 'sms', use: 'mobile', value: '+1' }]), now)).toBe('+1');
    expect(findMobileNumber(patient([{ system: 'phone', use: 'work', value: '+2' }]), now)).toBeUndefined();
    expect(findMobileNumber(patient([{ system: 'email', use: 'mobile', value: 'a@b.c' }]), now)).toBeUndefined();
    expect(findMobileNumber(patient([{ system: 'phone', use: 'mobile', value: '  ' }]), now)).toBeUndefined();
    expect(
      findMobileNumber(patient([{ system: 'phone', use: 'mobile', value: '+3', period: { end: '2024-01-01' } }]), now)
    ).toBeUndefined();
    expect(findMobileNumber({ resourceType: 'Patient' }, now)).toBeUndefined();
  });
});
