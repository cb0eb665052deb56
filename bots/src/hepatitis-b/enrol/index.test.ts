import type { CarePlan, MedicationRequest } from '@medplum/fhirtypes';
import { beforeEach, describe, expect, test } from 'vitest';
import { CONSENT_NUMBER_SYSTEM, LOINC, REQUEST_IDENTIFIER_SYSTEM, SMS_CONSENT_CODE } from '../../shared/sms-consent.js';
import {
  CAREPLAN_PROFILE,
  ENROLMENT_IDENTIFIER_SYSTEM,
  PROGRAMME_CODE,
  PROGRAMME_SYSTEM,
  readMessagingState,
  readProgrammeSettings,
} from '../programme.js';
import { RXNORM } from './medication.js';
import { EnrolmentFixture, MOBILE } from './test-fixtures.js';

describe('hepatitis-b-enrol: enrolment and SMS consent', () => {
  let f: EnrolmentFixture;

  beforeEach(async () => {
    f = await EnrolmentFixture.create();
  });

  test('an active TDF prescription without a consent decision: a draft enrolment and the consent question', async () => {
    const request = await f.prescribe();

    const result = await f.run(request);

    const [plan] = await f.plansFor();
    const [consentRequest] = await f.consentRequestsFor();
    expect(result).toEqual({
      outcome: 'enrolled',
      carePlan: `CarePlan/${plan.id}`,
      status: 'draft',
      messaging: 'awaiting-consent',
      consentRequest: `CommunicationRequest/${consentRequest.id}`,
    });
    expect(plan).toMatchObject<Partial<CarePlan>>({
      meta: expect.objectContaining({ profile: [CAREPLAN_PROFILE] }),
      identifier: [{ system: ENROLMENT_IDENTIFIER_SYSTEM, value: `${PROGRAMME_CODE}/Patient/${f.patient.id}` }],
      status: 'draft',
      intent: 'plan',
      subject: { reference: `Patient/${f.patient.id}`, display: 'Amina Otieno' },
      activity: [{ reference: { reference: `MedicationRequest/${request.id}` } }],
    });
    expect(plan.category?.[0]?.coding?.[0]).toMatchObject({ system: PROGRAMME_SYSTEM, code: PROGRAMME_CODE });
    expect(plan.period?.start).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(plan.period?.end).toBeUndefined();
    expect(readProgrammeSettings(plan)).toEqual({
      schedule: { dayOfWeek: 'mon', hourOfDay: 9 },
      language: 'sw',
      channel: 'sms',
    });
    // The same request sms-consent-request makes: its identifier, so neither bot makes a second.
    expect(consentRequest.identifier).toEqual([
      { system: REQUEST_IDENTIFIER_SYSTEM, value: `Patient/${f.patient.id}` },
    ]);
    expect(consentRequest.reasonCode?.[0]?.coding?.[0]).toMatchObject({ system: LOINC, code: SMS_CONSENT_CODE });
  });

  test('redelivered twice: one CarePlan, one consent request, nothing rewritten', async () => {
    const request = await f.prescribe();

    const first = await f.run(request);
    const [plan] = await f.plansFor();
    const second = await f.run(request);
    const third = await f.run(request);

    expect(first).toMatchObject({ outcome: 'enrolled' });
    expect(second).toMatchObject({ outcome: 'unchanged', carePlan: `CarePlan/${plan.id}` });
    expect(third).toMatchObject({ outcome: 'unchanged', carePlan: `CarePlan/${plan.id}` });
    expect(await f.plansFor()).toHaveLength(1);
    expect((await f.plansFor())[0].meta?.versionId).toBe(plan.meta?.versionId);
    expect(await f.consentRequestsFor()).toHaveLength(1);
  });

  test('a CarePlan another run created meanwhile is found by the conditional create and brought up to date', async () => {
    const request = await f.prescribe();
    await f.run(request);
    const [made] = await f.plansFor();
    await f.decide('permit');
    // This run's search misses the plan (the other run had not committed yet); its If-None-Exist finds it.
    const searchOne = f.medplum.searchOne.bind(f.medplum);
    f.medplum.searchOne = (async (type: string, query?: unknown, options?: unknown) =>
      type === 'CarePlan'
        ? undefined
        : searchOne(type as 'Patient', query as never, options as never)) as typeof f.medplum.searchOne;

    const result = await f.run(request);

    expect(result).toMatchObject({ outcome: 'updated', carePlan: `CarePlan/${made.id}`, status: 'active' });
    expect(await f.plansFor()).toHaveLength(1);
  });

  test('a consent request already open (from sms-consent-request) is reused', async () => {
    const open = await f.medplum.createResource({
      resourceType: 'CommunicationRequest',
      status: 'active',
      subject: { reference: `Patient/${f.patient.id}` },
      reasonCode: [{ coding: [{ system: LOINC, code: SMS_CONSENT_CODE }] }],
    });

    const result = await f.run(await f.prescribe());

    expect(result).toMatchObject({ outcome: 'enrolled', consentRequest: `CommunicationRequest/${open.id}` });
    expect(await f.consentRequestsFor()).toHaveLength(1);
  });

  test('SMS permitted: an active enrolment and no question', async () => {
    await f.decide('permit');

    const result = await f.run(await f.prescribe());

    expect(result).toMatchObject({ outcome: 'enrolled', status: 'active', messaging: 'permitted' });
    expect(result).not.toHaveProperty('consentRequest');
    expect(await f.consentRequestsFor()).toHaveLength(0);
  });

  test('SMS denied: enrolled on hold, the CarePlan says messages are denied, no question', async () => {
    await f.decide('deny');

    const result = await f.run(await f.prescribe());

    const [plan] = await f.plansFor();
    expect(result).toMatchObject({ outcome: 'enrolled', status: 'on-hold', messaging: 'denied' });
    expect(readMessagingState(plan)).toBe('denied');
    expect(await f.consentRequestsFor()).toHaveLength(0);
  });

  test("the gateway's consent for the patient's number counts, even without a patient on it", async () => {
    await f.decide('permit', { identifier: [{ system: CONSENT_NUMBER_SYSTEM, value: MOBILE.value }] });

    expect(await f.run(await f.prescribe())).toMatchObject({ status: 'active', messaging: 'permitted' });
  });

  test('the latest decision wins; a consent entered in error is none', async () => {
    const old = await f.decide('permit');
    await f.medplum.updateResource({ ...old, status: 'entered-in-error' });

    expect(await f.run(await f.prescribe())).toMatchObject({ status: 'draft', messaging: 'awaiting-consent' });
  });

  test('a patient without a mobile number is enrolled on hold and not asked', async () => {
    const noMobile = await f.createPatient({ telecom: [{ system: 'phone', use: 'home', value: '+254201234567' }] });

    const result = await f.run(await f.prescribe({}, noMobile));

    expect(result).toMatchObject({ outcome: 'enrolled', status: 'on-hold', messaging: 'no-mobile-number' });
    expect(readProgrammeSettings((await f.plansFor(noMobile))[0])?.language).toBe('en');
    expect(await f.consentRequestsFor(noMobile)).toHaveLength(0);
  });

  test('a later consent decision activates the enrolment', async () => {
    await f.run(await f.prescribe());

    const result = await f.run(await f.decide('permit'));

    expect(result).toMatchObject({ outcome: 'updated', status: 'active', messaging: 'permitted' });
    expect((await f.plansFor())[0].status).toBe('active');
  });

  test('a consent that names no patient, or a patient with no prescription, enrols nobody', async () => {
    const anonymous = await f.decide('permit', {
      identifier: [{ system: CONSENT_NUMBER_SYSTEM, value: '+254700000001' }],
    });
    expect(await f.run(anonymous)).toEqual({ outcome: 'skipped', reason: 'the consent names no patient' });
    expect(await f.run(await f.decide('permit'))).toEqual({
      outcome: 'skipped',
      reason: 'no active programme prescription and no open enrolment',
    });
    expect(await f.plansFor()).toHaveLength(0);
  });

  test('TAF and entecavir by name, by Medication reference, and a project code from the secret enrol', async () => {
    const taf = await f.prescribe({
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '999999', display: 'Vemlidy 25 MG Oral Tablet' }] },
    });
    expect(await f.run(taf)).toMatchObject({ outcome: 'enrolled' });

    const other = await f.createPatient({ telecom: [MOBILE] });
    const medication = await f.medplum.createResource({
      resourceType: 'Medication',
      code: { text: 'Entecavir 0.5 mg tablet' },
    });
    const etv = await f.prescribe(
      { medicationCodeableConcept: undefined, medicationReference: { reference: `Medication/${medication.id}` } },
      other
    );
    expect(await f.run(etv)).toMatchObject({ outcome: 'enrolled' });

    const third = await f.createPatient({ telecom: [MOBILE] });
    const local = await f.prescribe(
      { medicationCodeableConcept: { coding: [{ system: 'https://clinic.example/drugs', code: 'HBV-1' }] } },
      third
    );
    expect(await f.run(local)).toMatchObject({ outcome: 'skipped' });
    const secrets = {
      HBV_MEDICATION_CODES: { name: 'HBV_MEDICATION_CODES', valueString: 'https://clinic.example/drugs|HBV-1' },
    };
    expect(await f.run(local, secrets)).toMatchObject({ outcome: 'enrolled' });
  });

  test('other medicines, HIV combinations and proposals do not enrol', async () => {
    const cases: Partial<MedicationRequest>[] = [
      { medicationCodeableConcept: { text: 'Paracetamol 500 mg' } },
      {
        medicationCodeableConcept: { text: 'emtricitabine 200 MG / tenofovir disoproxil fumarate 300 MG Oral Tablet' },
      },
      { medicationCodeableConcept: { text: 'Tenofovir disoproxil and lamivudine' } },
      { intent: 'proposal' },
    ];
    for (const fields of cases) {
      const result = await f.run(await f.prescribe(fields));
      expect(result).toEqual({ outcome: 'skipped', reason: 'not a prescription of a hepatitis B programme medicine' });
    }
    expect(await f.plansFor()).toHaveLength(0);
  });

  test('input that does not apply is ignored', async () => {
    const request = await f.prescribe();
    await f.medplum.deleteResource('Patient', f.patient.id);
    expect(await f.run(request)).toEqual({ outcome: 'skipped', reason: `Patient/${f.patient.id} no longer exists` });
    expect(
      await f.run({
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        subject: { reference: 'Patient/x' },
      })
    ).toEqual({
      outcome: 'skipped',
      reason: 'the input is not a stored MedicationRequest or Consent',
    });
    const forGroup = await f.prescribe({ subject: { reference: 'Group/ward-3' } });
    expect(await f.run(forGroup)).toEqual({ outcome: 'skipped', reason: 'the prescription is not for a Patient' });
  });
});
