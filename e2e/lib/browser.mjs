// Launches Debian's Chromium through playwright-core; never downloads one.
import { chromium } from 'playwright-core';
import { existsSync } from 'node:fs';
import { chromiumPath } from './env.mjs';

export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A fresh browser (Playwright gives it a new, temporary user-data dir). */
export function launchBrowser() {
  if (!existsSync(chromiumPath)) {
    throw new Error(`no Chromium at ${chromiumPath}; install it (apt-get install chromium) or set PORTVAKT_CHROMIUM`);
  }
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: chromiumArgs,
    timeout: 30_000,
  });
}
