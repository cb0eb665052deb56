import type { Page } from 'playwright-core';
import type { TibaProcess } from './tiba-server.js';

/** Signs in as the server's admin through Medplum's SignInForm, from the app's first page. */
export async function signInAsAdmin(page: Page, server: TibaProcess): Promise<void> {
  await page.goto(server.baseUrl);
  await page.getByLabel('Email').fill(server.adminEmail);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.locator('input[name="password"]').fill(server.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Patients' }).waitFor();
}
