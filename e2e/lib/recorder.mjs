// Drives one page: every navigation waits for the new document, takes a
// full-page screenshot (test-output/screenshots/<test>/<nn>-<page>.png)
// and runs the accessibility smoke checks on it.
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { checkPage } from './a11y.mjs';
import { slug } from './env.mjs';

const NAV_TIMEOUT = 15_000;

export class Recorder {
  /**
   * @param {import('playwright-core').Page} page
   * @param {{baseURL: string, shots: {dir: string, n: number}, label?: string, a11y?: boolean}} opts
   */
  constructor(page, { baseURL, shots, label = '', a11y = true }) {
    this.page = page;
    this.baseURL = baseURL;
    this.shots = shots; // shared by every page of one test, for one numbering
    this.label = label;
    this.a11y = a11y;
    /** The response of the last navigation (after redirects). */
    this.response = null;
  }

  /** Opens a path (or absolute URL); returns the final response. */
  goto(url, name) {
    const abs = new URL(url, this.baseURL).toString();
    return this.navigate(() => this.page.goto(abs, { waitUntil: 'commit' }), name);
  }

  /** Clicks a link or button that navigates; returns the final response. */
  click(locator, name) {
    return this.navigate(() => locator.click(), name);
  }

  /** Presses a key (Enter in a form) that navigates; returns the final response. */
  press(key, name) {
    return this.navigate(() => this.page.keyboard.press(key), name);
  }

  /**
   * Runs action, waits until the main frame has a new document that has
   * loaded, then screenshots and checks it. Resolves to the main
   * document's final (non-redirect) response.
   */
  async navigate(action, name) {
    const page = this.page;
    const responded = page.waitForEvent('response', {
      timeout: NAV_TIMEOUT,
      predicate: (r) =>
        r.request().isNavigationRequest() &&
        r.frame() === page.mainFrame() &&
        !(r.status() >= 300 && r.status() < 400),
    });
    const committed = page.waitForEvent('framenavigated', {
      timeout: NAV_TIMEOUT,
      predicate: (f) => f === page.mainFrame(),
    });
    // Attach handlers now, so that a failing action does not leave
    // unhandled rejections behind.
    responded.catch(() => {});
    committed.catch(() => {});
    await action();
    const [response] = await Promise.all([responded, committed]);
    await page.waitForLoadState('load', { timeout: NAV_TIMEOUT });
    this.response = response;
    await this.snap(name);
    return response;
  }

  /** The current path and query, e.g. "/login?flow=…". */
  path() {
    const u = new URL(this.page.url());
    return u.pathname + u.search;
  }

  /** Screenshot (full page) and, unless disabled, the accessibility checks. */
  async snap(name) {
    const u = new URL(this.page.url());
    const pageName = slug([this.label, name || u.pathname.replace(/^\//, '') || 'home'].filter(Boolean).join('-'));
    this.shots.n += 1;
    const file = path.join(this.shots.dir, `${String(this.shots.n).padStart(2, '0')}-${pageName}.png`);
    mkdirSync(this.shots.dir, { recursive: true });
    await this.page.screenshot({ path: file, fullPage: true });
    if (this.a11y) await checkPage(this.page, `${pageName} (${u.pathname}${u.search})`);
    return file;
  }
}
