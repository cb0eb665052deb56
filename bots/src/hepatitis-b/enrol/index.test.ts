import type { BotEvent } from '@medplum/core';
import type { CarePlan, Consent, MedicationRequest, Patient } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { beforeEach, describe, expect, test } from 'vitest';
import { CONSENT_NUMBER_SYSTEM, LOINC, REQUEST_IDENTIFIER_SYSTEM, SMS_CONSENT_CODE } from '../../shared/sms-consent.js';
import {
  CAREPLAN_PROFILE,
  CHANNEL_URL,
  ENROLMENT_IDENTIFIER_SYSTEM,
  PROGRAMME_CODE,
  PROGRAMME_SYSTEM,
  programmeExtensions,
  readMessagingState,
  readProgrammeSettings,
} from '../programme.js';
import { handler } from './index.js';
import { RXNORM } from './medication.js';

const MOBILE = { system: 'phone', use: 'mobile', value: '+254712345678' } as const;
const TDF = { coding: [{ system: RXNORM, code: '322248', display: 'tenofovir disoproxil' }] };

describe('hepatitis-b-enrol', () => {
  let medplum: MockClient;
  let patient: Patient & { id: string };

  beforeEach(async () => {
    medplum = new MockClient();
    patient = await createPatient({
      name: [{ given: ['Amina'], family: 'Otieno' }],
      telecom: [MOBILE],
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'sw-KE' }] }, preferred: true }],
    });
  });

  async function createPatient(fields: Partial<Patient>): Promise<Patient & { id: string }> {
    return medplum.createResource<Patient>({ resourceType: 'Patient', ...fields });
  }

  async function prescribe(fields: Partial<MedicationRequest> = {}, who = patient) {
    return medplum.createResource<MedicationRequest>({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${who.id}` },
      medicationCodeableConcept: TDF,
      ...fields,
    });
  }

  async function decide(
    type: 'permit' | 'deny',
    fields: Partial<Consent> = { patient: { reference: `Patient/${patient.id}` } }
  ) {
    return medplum.createResource<Consent>({
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: LOINC, code: SMS_CONSENT_CODE }] }],
      provision: { type },
      ...fields,
    });
  }

  function run(input: MedicationRequest | Consent, secrets: BotEvent['secrets'] = {}) {
    return handler(medplum, { bot: { reference: 'Bot/enrol' }, input, contentType: 'application/fhir+json', secrets });
  }

  async function plansFor(who = patient): Promise<CarePlan[]> {
    return medplum.searchResources('CarePlan', { subject: `Patient/${who.id}` });
  }

  async function consentRequestsFor(who = patient) {
    return medplum.searchResources('CommunicationRequest', { subject: `Patient/${who.id}` });
  }

  test('an active TDF prescription without a consent decision: a draft enrolment and the consent question', async () => {
    const request = await prescribe();

    const result = await run(request);

    const [plan] = await plansFor();
    const [consentRequest] = await consentRequestsFor();
    expect(result).toEqual({
      outcome: 'enrolled',
      carePlan: `CarePlan/${plan.id}`,
      status: 'draft',
      messaging: 'awaiting-consent',
      consentRequest: `CommunicationRequest/${consentRequest.id}`,
    });
    expect(plan).toMatchObject<Partial<CarePlan>>({
      meta: expect.objectContaining({ profile: [CAREPLAN_PROFILE] }),
      identifier: [{ system: ENROLMENT_IDENTIFIER_SYSTEM, value: `${PROGRAMME_CODE}/Patient/${patient.id}` }],
      status: 'draft',
      intent: 'plan',
      subject: { reference: `Patient/${patient.id}`, display: 'Amina Otieno' },
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
    expect(consentRequest.identifier).toEqual([{ system: REQUEST_IDENTIFIER_SYSTEM, value: `Patient/${patient.id}` }]);
    expect(consentRequest.reasonCode?.[0]?.coding?.[0]).toMatchObject({ system: LOINC, code: SMS_CONSENT_CODE });
  });

  test('redelivered twice: one CarePlan, one consent request, nothing rewritten', async () => {
    const request = await prescribe();

    const first = await run(request);
    const [plan] = await plansFor();
    const second = await run(request);
    const third = await run(request);

    expect(first).toMatchObject({ outcome: 'enrolled' });
    expect(second).toMatchObject({ outcome: 'unchanged', carePlan: `CarePlan/${plan.id}` });
    expect(third).toMatchObject({ outcome: 'unchanged', carePlan: `CarePlan/${plan.id}` });
    expect(await plansFor()).toHaveLength(1);
    expect((await plansFor())[0].meta?.versionId).toBe(plan.meta?.versionId);
    expect(await consentRequestsFor()).toHaveLength(1);
  });

  test('a CarePlan another run created meanwhile is found by the conditional create and brought up to date', async () => {
    const request = await prescribe();
    await run(request);
    const [made] = await plansFor();
    await decide('permit');
    // This run's search misses the plan (the other run had not committed yet); its If-None-Exist finds it.
    const searchOne = medplum.searchOne.bind(medplum);
    medplum.searchOne = (async (type: string, query?: unknown, options?: unknown) =>
      type === 'CarePlan'
        ? undefined
        : searchOne(type as 'Patient', query as never, options as never)) as typeof medplum.searchOne;

    const result = await run(request);

    expect(result).toMatchObject({ outcome: 'updated', carePlan: `CarePlan/${made.id}`, status: 'active' });
    expect(await plansFor()).toHaveLength(1);
  });

  test('a consent request already open (from sms-consent-request) is reused', async () => {
    const open = await medplum.createResource({
      resourceType: 'CommunicationRequest',
      status: 'active',
      subject: { reference: `Patient/${patient.id}` },
      reasonCode: [{ coding: [{ system: LOINC, code: SMS_CONSENT_CODE }] }],
    });

    const result = await run(await prescribe());

    expect(result).toMatchObject({ outcome: 'enrolled', consentRequest: `CommunicationRequest/${open.id}` });
    expect(await consentRequestsFor()).toHaveLength(1);
  });

  test('SMS permitted: an active enrolment and no question', async () => {
    await decide('permit');

    const result = await run(await prescribe());

    expect(result).toMatchObject({ outcome: 'enrolled', status: 'active', messaging: 'permitted' });
    expect(result).not.toHaveProperty('consentRequest');
    expect(await consentRequestsFor()).toHaveLength(0);
  });

  test('SMS denied: enrolled on hold, the CarePlan says messages are denied, no question', async () => {
    await decide('deny');

    const result = await run(await prescribe());

    const [plan] = await plansFor();
    expect(result).toMatchObject({ outcome: 'enrolled', status: 'on-hold', messaging: 'denied' });
    expect(readMessagingState(plan)).toBe('denied');
    expect(await consentRequestsFor()).toHaveLength(0);
  });

  test("the gateway's consent for the patient's number counts, even without a patient on it", async () => {
    await decide('permit', { identifier: [{ system: CONSENT_NUMBER_SYSTEM, value: MOBILE.value }] });

    expect(await run(await prescribe())).toMatchObject({ status: 'active', messaging: 'permitted' });
  });

  test('the latest decision wins; a consent entered in error is none', async () => {
    const old = await decide('permit');
    await medplum.updateResource({ ...old, status: 'entered-in-error' });

    expect(await run(await prescribe())).toMatchObject({ status: 'draft', messaging: 'awaiting-consent' });
  });

  test('a patient without a mobile number is enrolled on hold and not asked', async () => {
    const noMobile = await createPatient({ telecom: [{ system: 'phone', use: 'home', value: '+254201234567' }] });

    const result = await run(await prescribe({}, noMobile));

    expect(result).toMatchObject({ outcome: 'enrolled', status: 'on-hold', messaging: 'no-mobile-number' });
    expect(readProgrammeSettings((await plansFor(noMobile))[0])?.language).toBe('en');
    expect(await consentRequestsFor(noMobile)).toHaveLength(0);
  });

  test('a later consent decision activates the enrolment', async () => {
    await run(await prescribe());

    const result = await run(await decide('permit'));

    expect(result).toMatchObject({ outcome: 'updated', status: 'active', messaging: 'permitted' });
    expect((await plansFor())[0].status).toBe('active');
  });

  test('a consent that names no patient, or a patient with no prescription, enrols nobody', async () => {
    const anonymous = await decide('permit', {
      identifier: [{ system: CONSENT_NUMBER_SYSTEM, value: '+254700000001' }],
    });
    expect(await run(anonymous)).toEqual({ outcome: 'skipped', reason: 'the consent names no patient' });
    expect(await run(await decide('permit'))).toEqual({
      outcome: 'skipped',
      reason: 'no active programme prescription and no open enrolment',
    });
    expect(await plansFor()).toHaveLength(0);
  });

  test('TAF and entecavir by name, by Medication reference, and a project code from the secret enrol', async () => {
    const taf = await prescribe({
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '999999', display: 'Vemlidy 25 MG Oral Tablet' }] },
    });
    expect(await run(taf)).toMatchObject({ outcome: 'enrolled' });

    const other = await createPatient({ telecom: [MOBILE] });
    const medication = await medplum.createResource({
      resourceType: 'Medication',
      code: { text: 'Entecavir 0.5 mg tablet' },
    });
    const etv = await prescribe(
      { medicationCodeableConcept: undefined, medicationReference: { reference: `Medication/${medication.id}` } },
      other
    );
    expect(await run(etv)).toMatchObject({ outcome: 'enrolled' });

    const third = await createPatient({ telecom: [MOBILE] });
    const local = await prescribe(
      { medicationCodeableConcept: { coding: [{ system: 'https://clinic.example/drugs', code: 'HBV-1' }] } },
      third
    );
    expect(await run(local)).toMatchObject({ outcome: 'skipped' });
    const secrets = {
      HBV_MEDICATION_CODES: { name: 'HBV_MEDICATION_CODES', valueString: 'https://clinic.example/drugs|HBV-1' },
    };
    expect(await run(local, secrets)).toMatchObject({ outcome: 'enrolled' });
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
      const result = await run(await prescribe(fields));
      expect(result).toEqual({ outcome: 'skipped', reason: 'not a prescription of a hepatitis B programme medicine' });
    }
    expect(await plansFor()).toHaveLength(0);
  });

  test('stopping the last prescription completes the enrolment; period.end is set', async () => {
    const request = await prescribe();
    await run(request);

    const stopped = await medplum.updateResource({ ...request, status: 'stopped' as const });
    const result = await run(stopped);

    const [plan] = await plansFor();
    expect(result).toEqual({ outcome: 'ended', carePlan: `CarePlan/${plan.id}`, status: 'completed' });
    expect(plan.status).toBe('completed');
    expect(plan.period?.end).toBeDefined();
    expect(await run(stopped)).toMatchObject({ outcome: 'skipped' });
  });

  test('a prescription entered in error revokes the enrolment', async () => {
    const request = await prescribe();
    await run(request);

    const result = await run(await medplum.updateResource({ ...request, status: 'entered-in-error' as const }));

    expect(result).toMatchObject({ outcome: 'ended', status: 'revoked' });
  });

  test('while another programme prescription is active the enrolment stays open and follows it', async () => {
    const first = await prescribe();
    const second = await prescribe({ medicationCodeableConcept: { text: 'Entecavir 0.5 mg' } });
    await run(first);

    const result = await run(await medplum.updateResource({ ...first, status: 'completed' as const }));

    const [plan] = await plansFor();
    expect(result).toMatchObject({ outcome: 'updated', status: 'draft' });
    expect(plan.activity).toEqual([{ reference: { reference: `MedicationRequest/${second.id}` } }]);
  });

  test('a paused prescription leaves the enrolment as it is', async () => {
    const request = await prescribe();
    await run(request);

    const result = await run(await medplum.updateResource({ ...request, status: 'on-hold' as const }));

    expect(result).toMatchObject({ outcome: 'skipped', reason: expect.stringMatching(/paused/) });
    expect((await plansFor())[0].status).toBe('draft');
  });

  test("a clinician's changes to schedule, language and channel are kept", async () => {
    const request = await prescribe();
    await run(request);
    const [plan] = await plansFor();
    const changed = {
      schedule: { dayOfWeek: 'thu' as const, hourOfDay: 17 },
      language: 'en',
      channel: 'whatsapp' as const,
    };
    await medplum.updateResource({ ...plan, extension: programmeExtensions(changed, 'awaiting-consent') });

    await decide('permit');
    await run(request);

    const [updated] = await plansFor();
    expect(readProgrammeSettings(updated)).toEqual(changed);
    expect(updated.extension?.filter((ext) => ext.url === CHANNEL_URL)).toHaveLength(1);
    expect(updated.status).toBe('active');
  });

  test('a new prescription after the end re-opens the same CarePlan with a new period', async () => {
    const request = await prescribe();
    await run(request);
    await run(await medplum.updateResource({ ...request, status: 'stopped' as const }));

    const result = await run(await prescribe());

    const plans = await plansFor();
    expect(plans).toHaveLength(1);
    expect(result).toMatchObject({ outcome: 'updated', status: 'draft' });
    expect(plans[0].period?.end).toBeUndefined();
  });

  test('input that does not apply is ignored', async () => {
    const request = await prescribe();
    await medplum.deleteResource('Patient', patient.id);
    expect(await run(request)).toEqual({ outcome: 'skipped', reason: `Patient/${patient.id} no longer exists` });
    expect(
      await run({
        resourceType: 'MedicationRequest',
        status: 'active',
        intent: 'order',
        subject: { reference: 'Patient/x' },
      })
    ).toEqual({
      outcome: 'skipped',
      reason: 'the input is not a stored MedicationRequest or Consent',
    });
    const forGroup = await prescribe({ subject: { reference: 'Group/ward-3' } });
    expect(await run(forGroup)).toEqual({ outcome: 'skipped', reason: 'the prescription is not for a Patient' });
  });
});
