import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { buildBots, listBots } from '../../bots/build.mjs';
import { deployBots, signIn } from '../../bots/deploy.mjs';
import { launchBrowser, type TestBrowser } from './browser.js';
import { saveScreenshot } from './screenshots.js';
import { signInAsAdmin } from './sign-in.js';
import { startTibaServer, type TibaProcess } from './tiba-server.js';

const USSD_CODE = '*384*123#';

const ELEMENT_TIMEOUT_MS = 30_000;

/**
 * A clinician's training loop with no Twilio account: the phone simulator texts STOP and START
 * through the real signed webhook, and the clinic's confirmations arrive from the stand-in.
 */
describe('phone simulator end to end', () => {
  let server: TibaProcess;
  let browser: TestBrowser;
  let page: Page;
  const phone = `+2547${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, '0')}`;

  beforeAll(async () => {
    const [started, launched] = await Promise.allSettled([
      startTibaServer({
        env: {
          TWILIO_STAND_IN: 'true',
          TWILIO_ACCOUNT_SID: `AC${randomBytes(16).toString('hex')}`,
          TWILIO_AUTH_TOKEN: randomBytes(16).toString('hex'),
          USSD_SERVICE_CODE: USSD_CODE,
        },
      }),
      launchBrowser(),
    ]);
    server = started.status === 'fulfilled' ? started.value : (undefined as never);
    browser = launched.status === 'fulfilled' ? launched.value : (undefined as never);
    for (const result of [started, launched]) {
      if (result.status === 'rejected') {
        throw result.reason;
      }
    }
    page = await browser.context.newPage();
    page.setDefaultTimeout(ELEMENT_TIMEOUT_MS);
    // The USSD channel's menu bot, deployed as `npm start` deploys it.
    const distDir = mkdtempSync(path.join(tmpdir(), 'tiba-e2e-bots-'));
    try {
      const bots = listBots().filter((bot) => bot.name === 'clinic-ussd-menu');
      await buildBots({ bots, outDir: distDir });
      const medplum = await signIn({
        baseUrl: server.baseUrl,
        clientId: server.adminClientId,
        clientSecret: server.adminClientSecret,
      });
      await deployBots(medplum, { bots, distDir });
    } finally {
      rmSync(distDir, { recursive: true, force: true });
    }
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  test('texts STOP and START from a phone and sees each confirmed once', async () => {
    await signInAsAdmin(page, server);
    await page.getByRole('link', { name: 'Phone simulator' }).click();
    await page.getByRole('heading', { name: 'Phone simulator' }).waitFor();
    await page.getByLabel('Phone number').fill(phone);
    const thread = page.getByTestId('thread');
    await thread.getByText(`No messages yet between ${phone}`).waitFor();

    await page.getByLabel(`Text from ${phone}`).fill('STOP');
    await page.getByRole('button', { name: 'Send' }).click();
    await thread.getByTestId('message-to-phone').filter({ hasText: 'You have unsubscribed' }).waitFor();

    await page.getByLabel(`Text from ${phone}`).fill('START');
    await page.getByRole('button', { name: 'Send' }).click();
    await thread.getByTestId('message-to-phone').filter({ hasText: 'You are subscribed again' }).waitFor();
    await saveScreenshot(page, 'phone-simulator-sms');

    // STOP again is a change (confirmed); a STOP right after it is not confirmed twice.
    const sendText = async (text: string, fromPhoneCount: number) => {
      await page.getByLabel(`Text from ${phone}`).fill(text);
      await page.getByRole('button', { name: 'Send' }).click();
      await expect.poll(() => thread.getByTestId('message-from-phone').count()).toBe(fromPhoneCount);
    };
    await sendText('STOP', 3);
    await expect
      .poll(() => thread.getByTestId('message-to-phone').filter({ hasText: 'You have unsubscribed' }).count())
      .toBe(2);
    await sendText('stop', 4);
    // The thread is read after the webhook answered: a confirmation would be there by now.
    expect(await thread.getByTestId('message-to-phone').count()).toBe(3);
  });

  test('dials the USSD code and walks the clinic menu to END', async () => {
    await page.getByText(`USSD ${USSD_CODE}`).click();
    await page.getByRole('button', { name: `Dial ${USSD_CODE}` }).click();
    const screen = page.getByTestId('ussd-screen');
    await screen.getByText('Welcome. Choose a number:').waitFor();
    const answer = async (choice: string, expected: string) => {
      await page.getByLabel('Answer').fill(choice);
      await page.getByRole('button', { name: 'Send' }).click();
      await screen.getByText(expected).waitFor();
    };
    await answer('2', 'Ask the clinic for opening hours.');
    await saveScreenshot(page, 'phone-simulator-ussd');
    await answer('0', 'Welcome. Choose a number:');
    await answer('4', 'Thank you. Goodbye.');
    await screen.getByText('Session ended').waitFor();
    expect(await page.getByLabel('Answer').count()).toBe(0);
  });

  test("the clinic's message to a patient arrives on the simulated phone, delivered", async () => {
    const patientPhone = `+2547${String(randomBytes(4).readUInt32BE() % 100_000_000).padStart(8, '0')}`;
    const medplum = await signIn({
      baseUrl: server.baseUrl,
      clientId: server.adminClientId,
      clientSecret: server.adminClientSecret,
    });
    const patient = await medplum.createResource({
      resourceType: 'Patient',
      name: [{ given: ['Neema'], family: 'Mwangi' }],
      telecom: [{ system: 'phone', use: 'mobile', value: patientPhone }],
    });
    const text = 'Your next clinic visit is on Monday at 9:00.';
    // Urgent: sent at once, whatever the hour (routine messages wait for the end of quiet hours).
    await medplum.createResource({
      resourceType: 'CommunicationRequest',
      status: 'active',
      priority: 'urgent',
      subject: { reference: `Patient/${patient.id}` },
      recipient: [{ reference: `Patient/${patient.id}` }],
      medium: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationMode', code: 'SMSWRIT' }] }],
      payload: [{ contentString: text }],
    });
    await page.getByText('SMS', { exact: true }).click();
    await page.getByLabel('Phone number').fill(patientPhone);
    const thread = page.getByTestId('thread');
    const message = thread.getByTestId('message-to-phone').filter({ hasText: text });
    await message.waitFor();
    await message.getByText('delivered').waitFor();
    expect(await thread.getByTestId('message-to-phone').count()).toBe(1);
  });
});
