// Headless Chromium for browser tests: playwright-core driving Debian's chromium (/usr/bin/chromium)
// with a fresh profile and no background networking, so a page's own requests are the only ones.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

/** Debian's chromium (`apt-get install chromium`). */
export const CHROMIUM = '/usr/bin/chromium';

/** Launch flags: headless, no sandbox (root in CI), no GPU, no network of the browser's own. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface BrowserSession {
  context: BrowserContext;
  page: Page;
  /** Every URL the page requested, in order. */
  requests: string[];
  /** Close the browser and remove its profile. */
  close(): Promise<void>;
}

/** Launch Chromium with a fresh user-data-dir and open one page that records its requests. */
export async function openBrowser(viewport: { width: number; height: number } = { width: 1200, height: 900 }): Promise<BrowserSession> {
  const profile = await mkdtemp(join(tmpdir(), 'protolens-browser-'));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, viewport, args: CHROMIUM_ARGS });
  } catch (e) {
    await rm(profile, { recursive: true, force: true });
    throw e;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  const requests: string[] = [];
  page.on('request', (r) => requests.push(r.url()));
  return {
    context,
    page,
    requests,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}
