import type { MedplumClient } from '@medplum/core';
import type { CarePlan, MedicationRequest, Patient } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TibaProcess } from '../../../../e2e/src/tiba-server.js';
import { listBots } from '../../../build.mjs';
import { deployBots } from '../../../deploy.mjs';
import { type BotsOnServer, startServerWithBots, withServerLog } from '../../bots-on-server.js';
import { LOINC, REQUEST_IDENTIFIER_SYSTEM, SMS_CONSENT_CODE } from '../../shared/sms-consent.js';
import { CAREPLAN_PROFILE, PROGRAMME_CODE, PROGRAMME_SYSTEM, programmeExtensions } from '../programme.js';
import { RXNORM } from './medication.js';

/** Subscription → outbox → queue → bot run → CarePlan, on two busy cores. */
const DELIVERY_DEADLINE_MS = 60_000;

/**
 * The real path: the built server (which loads fhir-profiles/ at start) as a child process, the
 * enrolment bot built and deployed as `npm run deploy:bots` does, prescriptions written over HTTP.
 */
describe('hepatitis-b-enrol on the real server', () => {
  let server: TibaProcess;
  let medplum: MedplumClient;
  let distDir: string;
  let world: BotsOnServer | undefined;
  const bots = listBots().filter((bot) => bot.name === 'hepatitis-b-enrol');

  beforeAll(async () => {
    ({ server, medplum, distDir } = world = await startServerWithBots(bots));
  });

  afterAll(async () => {
    await world?.stop();
  });

  const logOnFailure = <T>(promise: Promise<T>): Promise<T> => withServerLog(server, promise);

  test('the server enforces the CarePlan profile: a non-conforming CarePlan claiming it gets 400', async () => {
    const patient = await medplum.createResource<Patient>({ resourceType: 'Patient' });
    const good: CarePlan = {
      resourceType: 'CarePlan',
      meta: { profile: [CAREPLAN_PROFILE] },
      status: 'active',
      intent: 'plan',
      category: [{ coding: [{ system: PROGRAMME_SYSTEM, code: PROGRAMME_CODE }] }],
      subject: { reference: `Patient/${patient.id}` },
      period: { start: new Date().toISOString() },
      extension: programmeExtensions(
        { schedule: { dayOfWeek: 'mon', hourOfDay: 9 }, language: 'en', channel: 'sms' },
        'permitted'
      ),
    };
    expect((await medplum.createResource(good)).id).toBeDefined();

    const response = await fetch(new URL('fhir/R4/CarePlan', server.baseUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/fhir+json', authorization: `Bearer ${medplum.getAccessToken()}` },
      body: JSON.stringify({ ...good, intent: 'proposal', extension: good.extension?.slice(1) }),
    });
    expect(response.status).toBe(400);
    expect(JSON.stringify(await response.json())).toMatch(/tiba-hbv-cp-2/);
  });

  test('deploy creates the bot and its three Subscriptions', async () => {
    const [result] = await deployBots(medplum, { bots, distDir });
    expect(result).toMatchObject({ name: 'hepatitis-b-enrol', botChange: 'created', codeDeployed: true });
    expect(result.subscriptions.map(({ key, change }) => ({ key, change }))).toEqual([
      { key: 'medication-request-created', change: 'created' },
      { key: 'medication-request-updated', change: 'created' },
      { key: 'sms-consent-decided', change: 'created' },
    ]);
  });

  test('a TDF prescription over HTTP enrols the patient, consent activates it, stopping it completes it', async () => {
    const patient = await medplum.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Amina'], family: 'Otieno' }],
      telecom: [{ system: 'phone', use: 'mobile', value: '+254712345678' }],
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'sw' }] }, preferred: true }],
    });
    const other = await medplum.createResource<MedicationRequest>({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${patient.id}` },
      medicationCodeableConcept: { text: 'Paracetamol 500 mg' },
    });
    const request = await medplum.createResource<MedicationRequest>({
      resourceType: 'MedicationRequest',
      status: 'active',
      intent: 'order',
      subject: { reference: `Patient/${patient.id}` },
      medicationCodeableConcept: { coding: [{ system: RXNORM, code: '322248', display: 'tenofovir disoproxil' }] },
    });

    const [plan] = await logOnFailure(
      pollUntil(
        () => plansFor(patient),
        (found) => found.length > 0
      )
    );
    expect(plan).toMatchObject<Partial<CarePlan>>({
      status: 'draft',
      intent: 'plan',
      subject: { reference: `Patient/${patient.id}`, display: 'Amina Otieno' },
      activity: [{ reference: { reference: `MedicationRequest/${request.id}` } }],
    });
    expect(plan.meta?.profile).toEqual([CAREPLAN_PROFILE]);
    expect(plan.meta?.author?.reference).toMatch(/^Bot\//);
    // The consent question went out once, in the shape sms-consent-request uses.
    // (the bot writes it right after the CarePlan)
    const requests = await logOnFailure(
      pollUntil(
        () =>
          medplum.searchResources(
            'CommunicationRequest',
            { identifier: `${REQUEST_IDENTIFIER_SYSTEM}|Patient/${patient.id}` },
            { cache: 'no-cache' }
          ),
        (found) => found.length > 0
      )
    );
    // One request; its status (and last author) are outbound messaging's: without an SMS channel it may be revoked already.
    expect(requests).toHaveLength(1);
    expect(requests[0].reasonCode?.[0]?.coding?.[0]).toMatchObject({ system: LOINC, code: SMS_CONSENT_CODE });

    // The patient says yes (as the gateway records a YES): the Consent Subscription activates the plan.
    await medplum.createResource({
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
      category: [{ coding: [{ system: LOINC, code: SMS_CONSENT_CODE }] }],
      patient: { reference: `Patient/${patient.id}` },
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
      provision: { type: 'permit' },
    });
    await logOnFailure(
      pollUntil(
        () => plansFor(patient),
        (found) => found[0]?.status === 'active'
      )
    );

    await medplum.updateResource({ ...request, status: 'stopped' as const });
    const [ended] = await logOnFailure(
      pollUntil(
        () => plansFor(patient),
        (found) => found[0]?.status === 'completed'
      )
    );
    expect(ended.id).toBe(plan.id);
    expect(ended.period?.end).toBeDefined();
    // The paracetamol prescription enrolled nothing, and there is still one CarePlan.
    expect(other.id).toBeDefined();
    expect(await plansFor(patient)).toHaveLength(1);
  });

  async function plansFor(patient: Patient): Promise<CarePlan[]> {
    return medplum.searchResources('CarePlan', { subject: `Patient/${patient.id}` }, { cache: 'no-cache' });
  }
});

async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + DELIVERY_DEADLINE_MS;
  for (;;) {
    const value = await read();
    if (done(value)) {
      return value;
    }
    if (Date.now() > deadline) {
      throw new Error(`not done within ${DELIVERY_DEADLINE_MS / 1000} s: ${JSON.stringify(value)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
