// One test file = one suite: a fresh SMTP mailbox, a fresh portvakt server
// (new data dir) and one browser, shared by the file's tests; each test
// gets fresh browser contexts. On a failure the test's pages are
// screenshotted and the server log is saved under test-output/.
import { before, after, test } from 'node:test';
import { mkdirSync, rmSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { startMailbox } from './mailbox.mjs';
import { startPortvakt } from './server.mjs';
import { launchBrowser } from './browser.mjs';
import { Recorder } from './recorder.mjs';
import { outputDir, slug } from './env.mjs';

/**
 * @typedef {object} TestKit
 * @property {import('playwright-core').Page} page  a page in a fresh context
 * @property {Recorder} rec                          drives `page`
 * @property {(opts?: object & {label?: string, a11y?: boolean}) => Promise<{page: import('playwright-core').Page, rec: Recorder, context: import('playwright-core').BrowserContext}>} open
 *           another fresh context (own cookies), e.g. a phone or no-JavaScript browser
 * @property {ReturnType<typeof startMailbox> extends Promise<infer M> ? M : never} mailbox
 * @property {{url: string, log: () => string, setup: any, cli: import('./server.mjs').Cli}} server
 *           setup: what opts.server.setup returned
 */

/**
 * Sets up the suite and returns its `test` function.
 * server.setup runs before `portvakt serve` starts, with the CLI on the
 * server's data directory and environment (see server.mjs), e.g. to
 * register a client and create users; its result is `server.setup`.
 * @param {{server?: {env?: Record<string,string>, setup?: import('./server.mjs').Setup, host?: string, engine?: 'sqlite' | 'postgres'}, context?: object}} [opts]
 */
export function suite(opts = {}) {
  const state = { failed: [] };

  before(async () => {
    state.mailbox = await startMailbox();
    state.server = await startPortvakt({
      smtpPort: state.mailbox.port, env: opts.server?.env, setup: opts.server?.setup, host: opts.server?.host, engine: opts.server?.engine,
    });
    state.browser = await launchBrowser();
  });

  after(async () => {
    await state.browser?.close().catch(() => {});
    if (state.server) {
      await state.server.stop({ keep: true });
      if (state.failed.length > 0 || process.env.PORTVAKT_E2E_KEEP_LOGS) {
        for (const name of state.failed.length ? state.failed : ['suite']) {
          const dir = path.join(outputDir, 'logs', name);
          mkdirSync(dir, { recursive: true });
          copyFileSync(state.server.logPath, path.join(dir, 'portvakt.log'));
        }
      }
      rmSync(state.server.dataDir, { recursive: true, force: true });
    }
    await state.mailbox?.close();
  });

  /**
   * Declares a test that receives a TestKit.
   * @param {string} name
   * @param {(kit: TestKit, t: import('node:test').TestContext) => Promise<void>} fn
   * @param {{context?: object, timeout?: number}} [testOpts]
   */
  function e2eTest(name, fn, testOpts = {}) {
    return test(name, { timeout: testOpts.timeout ?? 60_000 }, async (t) => {
      const id = slug(name);
      const shots = { dir: path.join(outputDir, 'screenshots', id), n: 0 };
      rmSync(shots.dir, { recursive: true, force: true });
      rmSync(path.join(outputDir, 'logs', id), { recursive: true, force: true });
      const contexts = [];
      const open = async ({ label = '', a11y = true, ...contextOpts } = {}) => {
        const context = await state.browser.newContext({
          locale: 'en-US',
          ...opts.context,
          ...testOpts.context,
          ...contextOpts,
        });
        context.setDefaultTimeout(10_000);
        contexts.push(context);
        const page = await context.newPage();
        const rec = new Recorder(page, { baseURL: state.server.url, shots, label, a11y });
        return { page, rec, context };
      };
      try {
        const { page, rec } = await open();
        await fn({ page, rec, open, mailbox: state.mailbox, server: state.server }, t);
        if (!state.server.running()) throw new Error('portvakt serve exited during the test');
      } catch (err) {
        state.failed.push(id);
        const dir = path.join(outputDir, 'logs', id);
        mkdirSync(dir, { recursive: true });
        let i = 0;
        for (const c of contexts) {
          for (const p of c.pages()) {
            i += 1;
            await p.screenshot({ path: path.join(dir, `failure-${i}.png`), fullPage: true }).catch(() => {});
            const html = await p.content().catch(() => '');
            writeFileSync(path.join(dir, `failure-${i}.html`), `<!-- ${p.url()} -->\n${html}`);
          }
        }
        writeFileSync(
          path.join(dir, 'mails.json'),
          JSON.stringify(state.mailbox.mails.map(({ html, ...m }) => m), null, 2),
        );
        t.diagnostic(`artefacts: ${path.relative(process.cwd(), dir)}${existsSync(shots.dir) ? `, ${path.relative(process.cwd(), shots.dir)}` : ''}`);
        throw err;
      } finally {
        for (const c of contexts) await c.close().catch(() => {});
      }
    });
  }

  return { test: e2eTest, state };
}
