/**
 * A real browser for the console tests: Debian's Chromium (/usr/bin/chromium, installed by
 * scripts/prepare-chromium.mjs; never a downloaded build) driven by playwright-core, headless,
 * with a fresh profile directory that is deleted on close. Screenshots go to test-artifacts/.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { REPO_ROOT } from './vigil-process.js';

export const CHROMIUM = process.env['CHROMIUM_BIN'] ?? '/usr/bin/chromium';
export const ARTIFACTS = join(REPO_ROOT, 'test-artifacts');

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  readonly context: BrowserContext;
  /** A new tab with bounded default timeouts; console errors and failed requests are recorded. */
  newPage(): Promise<Page>;
  /** Messages the pages logged at level error, and uncaught page errors. */
  readonly pageErrors: string[];
  /** Saves a full-page screenshot as test-artifacts/<name>.png and returns the path. */
  screenshot(page: Page, name: string): Promise<string>;
  close(): Promise<void>;
}

/** Launches Chromium with a fresh `--user-data-dir`. Fails with the fix when it is missing. */
export async function launchBrowser(): Promise<Browser> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: run "node scripts/prepare-chromium.mjs" (apt-get install chromium)`,
    );
  const profile = mkdtempSync(join(tmpdir(), 'vigil-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1280, height: 900 },
    timeout: 30_000,
  });
  const pageErrors: string[] = [];
  mkdirSync(ARTIFACTS, { recursive: true });
  return {
    context,
    pageErrors,
    async newPage() {
      const page = await context.newPage();
      page.setDefaultTimeout(15_000);
      page.setDefaultNavigationTimeout(20_000);
      page.on('console', (m) => {
        if (m.type() === 'error') pageErrors.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => pageErrors.push(`pageerror: ${e.message}`));
      return page;
    },
    async screenshot(page, name) {
      const path = join(ARTIFACTS, `${name}.png`);
      await page.screenshot({ path, fullPage: true });
      return path;
    },
    async close() {
      try {
        await context.close();
      } finally {
        rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}
