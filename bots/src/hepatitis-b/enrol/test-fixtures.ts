// Shared by the enrolment bot's MockClient tests: an in-memory server with one patient, and the
// writes the tests make (prescriptions, consent decisions) and the reads they check.
import type { BotEvent } from '@medplum/core';
import type { CarePlan, CommunicationRequest, Consent, MedicationRequest, Patient } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { LOINC, SMS_CONSENT_CODE } from '../../shared/sms-consent.js';
import { type EnrolmentResult, handler } from './index.js';
import { RXNORM } from './medication.js';

export const MOBILE = { system: 'phone', use: 'mobile', value: '+254712345678' } as const;
export const TDF = { coding: [{ system: RXNORM, code: '322248', display: 'tenofovir disoproxil' }] };

export class EnrolmentFixture {
  readonly medplum = new MockClient();
  patient!: Patient & { id: string };

  /** A fixture whose patient is Amina Otieno, with a mobile number, preferring Swahili. */
  static async create(): Promise<EnrolmentFixture> {
    const fixture = new EnrolmentFixture();
    fixture.patient = await fixture.createPatient({
      name: [{ given: ['Amina'], family: 'Otieno' }],
      telecom: [MOBILE],
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'sw-KE' }] }, preferred: true }],
    });
    return fixture;
  }

  createPatient(fields: Partial<Patient>): Promise<Patient & { id: string }> {
    return this.medplum.createResource<Patient>({ resourceType: 'Patient', ...fields });
  }

  /** An active TDF order for the patient, unless `fields` say otherwise. */
  prescribe(fields: Partial<MedicationRequest> = {}, who = this.patient): Promise<MedicationRequest & { id: string }> {
    return this.medplum.createResource<MedicationRequest>({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${who.id}` },
      medicationCodeableConcept: TDF,
      ...fields,
    });
  }

  /** An SMS consent decision (LOINC 89057-4), about the patient unless `fields` say otherwise. */
  decide(type: 'permit' | 'deny', fields?: Partial<Consent>): Promise<Consent & { id: string }> {
    return this.medplum.createResource<Consent>({
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: LOINC, code: SMS_CONSENT_CODE }] }],
      provision: { type },
      ...(fields ?? { patient: { reference: `Patient/${this.patient.id}` } }),
    });
  }

  /** The bot's run for a written resource, as a Subscription delivers it. */
  run(input: MedicationRequest | Consent, secrets: BotEvent['secrets'] = {}): Promise<EnrolmentResult> {
    return handler(this.medplum, {
      bot: { reference: 'Bot/enrol' },
      input,
      contentType: 'application/fhir+json',
      secrets,
    });
  }

  plansFor(who = this.patient): Promise<CarePlan[]> {
    return this.medplum.searchResources('CarePlan', { subject: `Patient/${who.id}` });
  }

  consentRequestsFor(who = this.patient): Promise<CommunicationRequest[]> {
    return this.medplum.searchResources('CommunicationRequest', { subject: `Patient/${who.id}` });
  }
}
