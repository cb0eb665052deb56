import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, onTestFailed, test } from 'vitest';
import { launchBrowser, type TestBrowser } from './browser.js';
import { startTibaServer, type TibaProcess } from './tiba-server.js';

/** The part of the stored Patient the test checks. */
interface StoredPatient {
  resourceType: string;
  name?: { given?: string[]; family?: string }[];
  birthDate?: string;
  meta: { versionId: string };
}

/** Waits for elements, never for time: each wait may take this long on a busy machine. */
const ELEMENT_TIMEOUT_MS = 30_000;

/**
 * The web app against a real Tiba server in headless Chromium: sign in as the admin through
 * Medplum's SignInForm, create a Patient with ResourceForm, find it with SearchControl, open it.
 * The steps share one page and run in order; a failed step leaves a screenshot.
 */
describe('web app end to end', () => {
  let server: TibaProcess;
  let browser: TestBrowser;
  let page: Page;
  let screenshotDir: string | undefined;
  // What went wrong in the page (console errors, failed requests), printed with a failure.
  const pageProblems: string[] = [];
  // The steps build on each other: after a failure the rest are skipped, not left to time out.
  let failedStep: string | undefined;
  // Unique per run, so the search can only find this test's patient.
  const family = `E2e${randomBytes(4).toString('hex')}`;
  const given = 'Amani';
  let patientUrl: string;
  let firstVersionId: string;

  /** The patient as the server holds it, read with the page's own session token. */
  async function readStoredPatient(): Promise<StoredPatient> {
    const id = new URL(patientUrl).pathname.split('/').pop();
    return page.evaluate(async (patientId) => {
      const login = JSON.parse(localStorage.getItem('activeLogin') ?? '{}') as { accessToken?: string };
      const res = await fetch(`/fhir/R4/Patient/${patientId}`, {
        headers: { authorization: `Bearer ${login.accessToken}`, accept: 'application/fhir+json' },
      });
      return res.json();
    }, id);
  }

  beforeAll(async () => {
    // Both at once; whichever started is stopped in afterAll even when the other failed.
    const [started, launched] = await Promise.allSettled([startTibaServer(), launchBrowser()]);
    if (started.status === 'fulfilled') {
      server = started.value;
    }
    if (launched.status === 'fulfilled') {
      browser = launched.value;
    }
    for (const result of [started, launched]) {
      if (result.status === 'rejected') {
        throw result.reason;
      }
    }
    page = await browser.context.newPage();
    page.setDefaultTimeout(ELEMENT_TIMEOUT_MS);
    page.on('console', (message) => {
      if (message.type() === 'error') {
        pageProblems.push(`console: ${message.text()}`);
      }
    });
    page.on('pageerror', (err) => pageProblems.push(`page error: ${err.message}`));
    page.on('response', async (response) => {
      if (response.status() >= 400) {
        pageProblems.push(`${response.status()} ${response.request().method()} ${response.url()}`);
      } else if (response.url().endsWith('/$graphql')) {
        // GraphQL reports errors with a 200; the Medplum components only log them.
        const body = (await response.json().catch(() => ({}))) as { errors?: unknown[] };
        if (body.errors) {
          pageProblems.push(`GraphQL errors: ${JSON.stringify(body.errors)}`);
        }
      }
    });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.stop();
  });

  beforeEach((context) => {
    if (failedStep) {
      context.skip(`an earlier step failed: ${failedStep}`);
    }
    onTestFailed(async ({ task }) => {
      failedStep = task.name;
      screenshotDir ??= await mkdtemp(path.join(tmpdir(), 'tiba-e2e-screenshots-'));
      const file = path.join(screenshotDir, `${task.name.replace(/\W+/g, '-')}.png`);
      await page?.screenshot({ path: file, fullPage: true }).catch(() => undefined);
      console.error(
        [
          `Screenshot: ${file} (page ${page?.url()})`,
          '--- in the page ---',
          ...pageProblems,
          '--- server output ---',
          server?.logTail(),
        ].join('\n')
      );
    });
  });

  test('the server serves the app; signed out, it shows the sign-in form', async () => {
    await page.goto(server.baseUrl);
    await page.getByLabel('Email').waitFor();
    expect(new URL(page.url()).pathname).toBe('/signin');
  });

  test('signs in as the admin through SignInForm', async () => {
    await page.getByLabel('Email').fill(server.adminEmail);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.locator('input[name="password"]').fill(server.adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Patients' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/Patient');
  });

  test('creates a Patient through ResourceForm', async () => {
    await page.getByRole('link', { name: 'New patient' }).click();
    await page.getByRole('heading', { name: 'New patient' }).waitFor();
    await page.getByRole('button', { name: 'Add Name' }).click();
    await page.getByPlaceholder('Given').fill(given);
    await page.getByPlaceholder('Family').fill(family);
    await page.getByLabel('Birth Date').fill('1990-04-12');
    await page.getByRole('button', { name: 'Create' }).click();
    await page.getByRole('heading', { name: `${given} ${family}` }).waitFor();
    patientUrl = page.url();
    expect(new URL(patientUrl).pathname).toMatch(/^\/Patient\/[\w-]+$/);
  });

  test('lists the new Patient in SearchControl', async () => {
    await page.getByRole('link', { name: 'Patients' }).click();
    await page.getByRole('heading', { name: 'Patients' }).waitFor();
    await page.getByRole('row').filter({ hasText: family }).waitFor();
  });

  test('finds it by name and opens it', async () => {
    // The list's search lives in the URL: a search for someone else finds nobody...
    await page.goto(new URL(`Patient?name=Nobody${family}`, server.baseUrl).href);
    await page.getByText('No results').waitFor();
    // ...and a search by the new family name finds exactly the new patient.
    await page.goto(new URL(`Patient?name=${family}`, server.baseUrl).href);
    const row = page.getByRole('row').filter({ hasText: family });
    await row.waitFor();
    expect(await row.count()).toBe(1);
    await expect.poll(() => page.getByText('1-1 of 1').count()).toBe(1);
    await row.click();
    await page.getByRole('heading', { name: `${given} ${family}` }).waitFor();
    expect(page.url()).toBe(patientUrl);
  });

  test('the patient page shows the stored data in ResourceTable', async () => {
    const details = page.getByRole('tabpanel', { name: 'Details' });
    await details.getByText(`${given} ${family}`).waitFor();
    await details.getByText('1990-04-12').waitFor();
    const stored = await readStoredPatient();
    expect(stored).toMatchObject({
      resourceType: 'Patient',
      name: [{ given: [given], family }],
      birthDate: '1990-04-12',
    });
    firstVersionId = stored.meta.versionId;
  });

  test('edits the Patient through ResourceForm', async () => {
    await page.getByRole('tab', { name: 'Edit' }).click();
    const form = page.getByRole('tabpanel', { name: 'Edit' });
    await form.getByLabel('Birth Date').fill('1991-05-13');
    await form.getByRole('button', { name: 'Update' }).click();
    await page.getByText('Saved').waitFor();
    await page.getByRole('tabpanel', { name: 'Details' }).getByText('1991-05-13').waitFor();
    const stored = await readStoredPatient();
    expect(stored.birthDate).toBe('1991-05-13');
    expect(stored.meta.versionId).not.toBe(firstVersionId);
  });

  test('a reload keeps the session and opens the same patient (SPA fallback)', async () => {
    await page.reload();
    await page.getByRole('heading', { name: `${given} ${family}` }).waitFor();
    expect(page.url()).toBe(patientUrl);
  });
});
