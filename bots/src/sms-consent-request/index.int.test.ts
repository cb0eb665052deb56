import type { MedplumClient } from '@medplum/core';
import type { CommunicationRequest, Patient, Subscription } from '@medplum/fhirtypes';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { TibaProcess } from '../../../e2e/src/tiba-server.js';
import { listBots } from '../../build.mjs';
import { deployBots, FHIRPATH_CRITERIA_URL, SUPPORTED_INTERACTION_URL } from '../../deploy.mjs';
import { type BotsOnServer, startServerWithBots, withServerLog } from '../bots-on-server.js';
import { LOINC, PARTICIPATION_MODE, SMS_CONSENT_CODE } from './index.js';

/** Subscription → outbox → queue → bot run → CommunicationRequest, on two busy cores. */
const DELIVERY_DEADLINE_MS = 60_000;

/**
 * The real path: the built server as a child process (its in-process workers deliver), the bot
 * built and deployed by the code behind `npm run deploy:bots`, a Patient created over HTTP.
 */
describe('sms-consent-request on the real server', () => {
  let server: TibaProcess;
  let medplum: MedplumClient;
  let distDir: string;
  let world: BotsOnServer | undefined;
  const bots = listBots().filter((bot) => bot.name === 'sms-consent-request');

  beforeAll(async () => {
    ({ server, medplum, distDir } = world = await startServerWithBots(bots));
  });

  afterAll(async () => {
    await world?.stop();
  });

  const logOnFailure = <T>(promise: Promise<T>): Promise<T> => withServerLog(server, promise);

  test('deploy creates the Bot, its code and its Subscription, and a second deploy changes nothing', async () => {
    const [first] = await deployBots(medplum, { bots, distDir });
    expect(first).toMatchObject({ name: 'sms-consent-request', botChange: 'created', codeDeployed: true });
    expect(first.subscriptions).toMatchObject([{ key: 'patient-created', change: 'created' }]);

    const bot = await medplum.readReference({ reference: first.bot });
    expect(bot.resourceType).toBe('Bot');
    expect((bot as { executableCode?: { url?: string } }).executableCode?.url).toMatch(/^Binary\//);
    const subscription = await medplum.readResource('Subscription', first.subscriptions[0].id);
    expect(subscription).toMatchObject<Partial<Subscription>>({
      status: 'active',
      criteria: 'Patient',
      channel: { type: 'rest-hook', endpoint: first.bot, payload: 'application/fhir+json' },
    });
    expect(subscription.extension).toEqual(
      expect.arrayContaining([
        { url: SUPPORTED_INTERACTION_URL, valueCode: 'create' },
        { url: FHIRPATH_CRITERIA_URL, valueString: "%current.telecom.where(use = 'mobile').exists()" },
      ])
    );

    const [second] = await deployBots(medplum, { bots, distDir });
    expect(second).toMatchObject({ bot: first.bot, botChange: 'unchanged', codeDeployed: false });
    expect(second.subscriptions).toEqual([{ key: 'patient-created', id: subscription.id, change: 'unchanged' }]);
    const subscriptions = await medplum.searchResources('Subscription', { url: first.bot }, { cache: 'no-cache' });
    expect(subscriptions.filter((s) => s.channel.endpoint === first.bot)).toHaveLength(1);
  });

  test('a changed bot.json updates, adds and removes Subscriptions', async () => {
    const [source] = bots;
    const changed = {
      ...source,
      metadata: {
        ...source.metadata,
        description: 'changed',
        subscriptions: [
          { ...source.metadata.subscriptions![0], reason: 'changed reason' },
          { key: 'patient-updated', criteria: 'Patient?active=false', interaction: 'update' as const },
        ],
      },
    };
    const [result] = await deployBots(medplum, { bots: [changed], distDir });
    expect(result).toMatchObject({ botChange: 'updated', codeDeployed: false });
    expect(result.subscriptions.map(({ key, change }) => ({ key, change }))).toEqual([
      { key: 'patient-created', change: 'updated' },
      { key: 'patient-updated', change: 'created' },
    ]);
    const added = await medplum.readResource('Subscription', result.subscriptions[1].id);
    expect(added).toMatchObject({ criteria: 'Patient?active=false', channel: { endpoint: result.bot } });

    // Back to bot.json as it is: the extra Subscription goes, the first is restored in place.
    const [restored] = await deployBots(medplum, { bots, distDir });
    expect(restored.subscriptions.map(({ key, change }) => ({ key, change }))).toEqual([
      { key: 'patient-created', change: 'updated' },
      { key: 'patient-updated', change: 'deleted' },
    ]);
    expect(restored.subscriptions[0].id).toBe(result.subscriptions[0].id);
    await expect(medplum.readResource('Subscription', result.subscriptions[1].id)).rejects.toThrow();
  });

  test('a new patient with a mobile number is asked for SMS consent; one without is not', async () => {
    const withoutMobile = await medplum.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Baraka'], family: 'Mwangi' }],
      telecom: [{ system: 'phone', use: 'home', value: '+254201234567' }],
    });
    const withMobile = await medplum.createResource<Patient>({
      resourceType: 'Patient',
      name: [{ given: ['Amina'], family: 'Otieno' }],
      telecom: [{ system: 'phone', use: 'mobile', value: '+254712345678' }],
    });

    const requests = await logOnFailure(
      pollUntil(
        () => requestsFor(withMobile),
        (found) => found.length > 0,
        DELIVERY_DEADLINE_MS
      )
    );
    expect(requests).toHaveLength(1);
    // The bot's version is the first: outbound messaging may have moved the request on since
    // (this server has no SMS channel, so it revokes it with the reason).
    const history = await medplum.readHistory('CommunicationRequest', requests[0].id as string);
    const written = history.entry?.at(-1)?.resource as CommunicationRequest;
    expect(written).toMatchObject<Partial<CommunicationRequest>>({
      status: 'active',
      subject: { reference: `Patient/${withMobile.id}`, display: 'Amina Otieno' },
    });
    expect(written.medium?.[0]?.coding?.[0]).toMatchObject({ system: PARTICIPATION_MODE, code: 'SMSWRIT' });
    expect(written.reasonCode?.[0]?.coding?.[0]).toMatchObject({ system: LOINC, code: SMS_CONSENT_CODE });
    // Written by the bot, through its own membership.
    expect(written.meta?.author?.reference).toMatch(/^Bot\//);

    // The patient without a mobile was created first: had anything been made for it, it would be there
    // by now; give stragglers (and any duplicate delivery for the other patient) a moment more.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(await requestsFor(withoutMobile)).toHaveLength(0);
    expect(await requestsFor(withMobile)).toHaveLength(1);
  });

  test('$execute runs the deployed bot and returns its result', async () => {
    const [deployed] = await deployBots(medplum, { bots, distDir });
    const patient = await medplum.createResource<Patient>({
      resourceType: 'Patient',
      telecom: [{ system: 'email', value: 'no-phone@example.com' }],
    });
    const result = await medplum.executeBot(deployed.bot.replace('Bot/', ''), patient, 'application/fhir+json');
    expect(result).toEqual({ outcome: 'skipped', reason: 'the patient has no mobile number' });
  });

  async function requestsFor(patient: Patient): Promise<CommunicationRequest[]> {
    return medplum.searchResources('CommunicationRequest', { subject: `Patient/${patient.id}` }, { cache: 'no-cache' });
  }
});

async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value) || Date.now() > deadline) {
      if (!done(value)) {
        throw new Error(`not done within ${timeoutMs / 1000} s: ${JSON.stringify(value)}`);
      }
      return value;
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
