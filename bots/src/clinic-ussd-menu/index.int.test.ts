import type { MedplumClient } from '@medplum/core';
import type { Appointment, Communication, Location, Organization, Patient, Practitioner } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TibaProcess } from '../../../e2e/src/tiba-server.js';
import { listBots } from '../../build.mjs';
import { deployBots } from '../../deploy.mjs';
import { type BotsOnServer, startServerWithBots } from '../bots-on-server.js';

const SERVICE_CODE = '*384*2026#';
const KEY = 'clinic-menu-int-test-key-0123456789';

/**
 * The real path: the built server as a child process with USSD_SERVICE_CODE (its channel names
 * this bot by default), the bot built and deployed as `npm run deploy:bots` does, and a patient
 * dialling the service code through Africa's Talking's callback over HTTP.
 */
describe('clinic-ussd-menu on the real server', () => {
  let server: TibaProcess;
  let medplum: MedplumClient;
  let distDir: string;
  let world: BotsOnServer | undefined;
  let patient: Patient;
  const bots = listBots().filter((bot) => bot.name === 'clinic-ussd-menu');

  beforeAll(async () => {
    ({ server, medplum, distDir } = world = await startServerWithBots(bots, {
      USSD_SERVICE_CODE: SERVICE_CODE,
      USSD_CALLBACK_SECRET: KEY,
    }));
    await deployBots(medplum, { bots, distDir });
    await medplum.createResource<Organization>({
      resourceType: 'Organization',
      active: true,
      name: 'Jamii Health Centre',
      telecom: [{ system: 'phone', value: '+254709000100' }],
    });
    await medplum.createResource<Location>({
      resourceType: 'Location',
      status: 'active',
      name: 'Jamii main site',
      hoursOfOperation: [
        { daysOfWeek: ['mon', 'tue', 'wed', 'thu', 'fri'], openingTime: '08:00:00', closingTime: '17:00:00' },
      ],
    });
    patient = await medplum.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Grace'], family: 'Odhiambo' }],
      telecom: [{ system: 'phone', use: 'mobile', value: '+254712000201' }],
      communication: [{ language: { coding: [{ system: 'urn:ietf:bcp:47', code: 'sw' }] }, preferred: true }],
    });
    const practitioner = await medplum.createResource<Practitioner>({
      resourceType: 'Practitioner',
      name: [{ prefix: ['Dr.'], family: 'Kamau' }],
    });
    await medplum.createResource<Appointment>({
      resourceType: 'Appointment',
      status: 'booked',
      start: `${new Date().getFullYear() + 1}-02-03T09:30:00+03:00`,
      end: `${new Date().getFullYear() + 1}-02-03T10:00:00+03:00`,
      participant: [
        { actor: { reference: `Patient/${patient.id}` }, status: 'accepted' },
        { actor: { reference: `Practitioner/${practitioner.id}`, display: 'Dr. Kamau' }, status: 'accepted' },
      ],
    });
  });

  afterAll(async () => {
    await world?.stop();
  });

  async function dial(sessionId: string, phoneNumber: string, text: string): Promise<string> {
    const res = await fetch(`${server.baseUrl}messaging/ussd/africastalking?key=${KEY}`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ sessionId, serviceCode: SERVICE_CODE, phoneNumber, networkCode: '63902', text }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = await res.text();
    if (res.status !== 200) {
      throw new Error(`${res.status} ${body}\n--- server output ---\n${server.logTail()}`);
    }
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    return body;
  }

  test('a patient walks the menu in Swahili, switches to English and ends; the session is recorded', async () => {
    const year = new Date().getFullYear() + 1;
    const call = (text: string) => dial('ATUid_clinic_1', '+254712000201', text);
    expect(await call('')).toMatch(/^CON Karibu\. Chagua namba:\n1\. Miadi ijayo/);
    expect(await call('1')).toBe(`CON Miadi yako:\n${year}-02-03 09:30 na Dr. Kamau\n0 Rudi`);
    expect(await call('1*0')).toMatch(/^CON Karibu/);
    expect(await call('1*0*2')).toBe(
      'CON Jamii Health Centre\nSimu: +254709000100\nSaa za kazi: Jumatatu-Ijumaa 08:00-17:00\n0 Rudi'
    );
    expect(await call('1*0*2*0')).toMatch(/^CON Karibu/);
    expect(await call('1*0*2*0*3')).toMatch(/1\. English\n2\. Kiswahili/);
    expect(await call('1*0*2*0*3*1')).toMatch(/^CON Welcome\. Choose a number:/);
    expect(await call('1*0*2*0*3*1*4')).toBe('END Thank you. Goodbye.');

    const deadline = Date.now() + 30_000;
    let recorded: Communication[] = [];
    while (recorded.length === 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      recorded = await medplum.searchResources(
        'Communication',
        { identifier: 'https://tiba.health/fhir/sid/africastalking-ussd-session|ATUid_clinic_1' },
        { cache: 'no-cache' }
      );
    }
    expect(recorded).toHaveLength(1);
    expect(recorded[0]).toMatchObject({
      status: 'completed',
      subject: { reference: `Patient/${patient.id}` },
      payload: [{ contentString: 'Inputs: 1, 0, 2, 0, 3, 1, 4' }, { contentString: 'END Thank you. Goodbye.' }],
    });
  });

  test('an unknown number hears so in English', async () => {
    expect(await dial('ATUid_clinic_2', '+254799999999', '')).toMatch(/^CON Welcome/);
    expect(await dial('ATUid_clinic_2', '+254799999999', '1')).toBe(
      'CON We could not find your phone number in our records. Please call or visit the clinic.\n0 Back'
    );
  });
});
