import type { BotEvent } from '@medplum/core';
import type { Appointment, Location, Organization, Patient, Practitioner } from '@medplum/fhirtypes';
import { MockClient } from '@medplum/mock';
import { beforeEach, describe, expect, test } from 'vitest';
import { checkUssdText } from '../../../packages/server/src/messaging/text/ussd-screen.js';
import { handler, openingLine, type UssdScreenAnswer, type UssdScreenInput } from './index.js';

let medplum: MockClient;

beforeEach(() => {
  medplum = new MockClient();
});

/** Walks a session the way the server does: the whole text, the newest input, the state handed back. */
async function walk(inputs: string[], patient?: Patient): Promise<UssdScreenAnswer[]> {
  const answers: UssdScreenAnswer[] = [];
  let state: unknown = null;
  const typed: string[] = [];
  for (const input of ['', ...inputs]) {
    if (input !== '') {
      typed.push(input);
    }
    const event = {
      bot: { reference: 'Bot/1' },
      contentType: 'application/json',
      secrets: {},
      input: {
        channel: { id: 'e1', serviceCode: '*384*123#' },
        sessionId: 'ATUid_1',
        phoneNumber: '+254712000201',
        patient,
        text: typed.join('*'),
        input,
        state,
      },
    } as BotEvent<UssdScreenInput>;
    const answer = await handler(medplum, event);
    // Every screen the bot draws is one the server will send: 182 GSM-7 characters at most.
    expect(answer.screen).toMatch(/^(CON|END) /);
    expect(checkUssdText(answer.screen.slice(4)).ok, answer.screen).toBe(true);
    answers.push(answer);
    state = answer.state;
  }
  return answers;
}

async function createPatient(language?: string): Promise<Patient> {
  return medplum.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ given: ['Grace'], family: 'Odhiambo' }],
    telecom: [{ system: 'phone', use: 'mobile', value: '+254712000201' }],
    ...(language ? { communication: [{ language: { coding: [{ code: language }] }, preferred: true }] } : {}),
  });
}

describe('clinic-ussd-menu', () => {
  test('opens in the patient’s language; 3 switches language; 4 ends the session', async () => {
    const patient = await createPatient('sw-KE');
    const [first, language, english, end] = await walk(['3', '1', '4'], patient);
    expect(first.screen).toBe(
      'CON Karibu. Chagua namba:\n1. Miadi ijayo\n2. Saa za kliniki na mawasiliano\n3. Lugha / Language\n4. Toka'
    );
    expect(language.screen).toContain('1. English\n2. Kiswahili');
    expect(english.screen).toMatch(/^CON Welcome\. Choose a number:\n1\. Upcoming appointments/);
    expect(end).toEqual({ screen: 'END Thank you. Goodbye.', state: null });
    expect((await walk([]))[0].screen).toMatch(/^CON Welcome/); // no patient: English
  });

  test('1 lists upcoming booked appointments, paged with 98 More and 0 Back', async () => {
    const patient = await createPatient();
    const practitioner = await medplum.createResource<Practitioner>({
      resourceType: 'Practitioner',
      name: [{ family: 'Kamau' }],
    });
    const year = new Date().getFullYear() + 1;
    for (let day = 10; day < 19; day++) {
      await medplum.createResource<Appointment>({
        resourceType: 'Appointment',
        status: day === 18 ? 'cancelled' : 'booked',
        start: `${year}-03-${day}T09:30:00+03:00`,
        end: `${year}-03-${day}T10:00:00+03:00`,
        participant: [
          { actor: { reference: `Patient/${patient.id}` }, status: 'accepted' },
          { actor: { reference: `Practitioner/${practitioner.id}`, display: 'Dr. Wanjiru Kamau' }, status: 'accepted' },
        ],
      });
    }
    const [, page1, page2, page3, back, backAgain, main] = await walk(['1', '98', '98', '0', '0', '0'], patient);
    expect(page1.screen).toMatch(new RegExp(`^CON Your appointments:\\n${year}-03-10 09:30 with Dr. Wanjiru Kamau\\n`));
    for (const page of [page1, page2]) {
      expect(page.screen).toMatch(/\n98 More\n0 Back$/);
    }
    expect(page3.screen).toMatch(/[^e]\n0 Back$/);
    expect(page3.screen).not.toContain('98 More');
    const listed = [page1, page2, page3].map((p) => p.screen).join('\n');
    for (let day = 10; day < 18; day++) {
      expect(listed).toContain(`${year}-03-${day} 09:30`);
    }
    expect(listed).not.toContain(`${year}-03-18`); // cancelled
    expect(back.screen).toBe(page2.screen);
    expect(backAgain.screen).toBe(page1.screen);
    expect(main.screen).toMatch(/^CON Welcome/);
  });

  test('1 for an unknown number or a patient with no appointments says so', async () => {
    expect((await walk(['1']))[1].screen).toBe(
      'CON We could not find your phone number in our records. Please call or visit the clinic.\n0 Back'
    );
    const patient = await createPatient('sw');
    expect((await walk(['1'], patient))[1].screen).toBe(
      'CON Huna miadi ijayo. Kupanga miadi, piga simu kliniki.\n0 Rudi'
    );
  });

  test('2 shows the clinic, its phone and opening hours', async () => {
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
        { daysOfWeek: ['sat'], openingTime: '09:00:00', closingTime: '13:00:00' },
      ],
    });
    const [, contact] = await walk(['2']);
    expect(contact.screen).toBe(
      'CON Jamii Health Centre\nPhone: +254709000100\nOpen: Mon-Fri 08:00-17:00\nOpen: Sat 09:00-13:00\n0 Back'
    );
  });

  test('input that is not on the menu shows the screen again with a note; a non-USSD input ends', async () => {
    const [first, wrong] = await walk(['7']);
    expect(wrong.screen).toBe(`CON That is not on the menu.\n${first.screen.slice(4)}`);
    expect(wrong.state).toEqual(first.state);
    const notUssd = await handler(medplum, { input: {} } as BotEvent<UssdScreenInput>);
    expect(notUssd.screen).toMatch(/^END /);
  });

  test('opening hours in Swahili, and days that are not a run', () => {
    expect(
      openingLine({ daysOfWeek: ['mon', 'tue', 'wed'], openingTime: '08:00:00', closingTime: '16:00:00' }, 'sw')
    ).toBe('Jumatatu-Jumatano 08:00-16:00');
    expect(openingLine({ daysOfWeek: ['mon', 'thu'], allDay: true }, 'en')).toBe('Mon, Thu 24h');
  });
});
