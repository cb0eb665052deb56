import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

/** The README's pictures, refreshed by a run with UPDATE_SCREENSHOTS=1 (never by a plain `npm test`). */
const SCREENSHOT_DIR = fileURLToPath(new URL('../../docs/screenshots', import.meta.url));

/** Saves the page as docs/screenshots/<name>.png when asked to; a plain run leaves the checkout untouched. */
export async function saveScreenshot(page: Page, name: string): Promise<void> {
  if (process.env.UPDATE_SCREENSHOTS !== '1') {
    return;
  }
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  await page.screenshot({ path: path.join(SCREENSHOT_DIR, `${name}.png`), fullPage: true });
}
