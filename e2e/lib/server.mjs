// Starts the real portvakt binary on a free port with a fresh data
// directory, and stops it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binary } from './build.mjs';
import { freePort, sleep } from './env.mjs';

/**
 * Starts `portvakt serve`. Resolves once GET /readyz answers 200.
 * @param {{smtpPort: number, env?: Record<string,string>, readyTimeoutMs?: number}} opts
 */
export async function startPortvakt(opts) {
  // The free port is only free when probed; if another program takes it
  // first, portvakt says "already in use": try another.
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(opts);
    } catch (err) {
      if (attempt >= 3 || !/already in use/.test(err.message)) throw err;
    }
  }
}

async function start({ smtpPort, env = {}, readyTimeoutMs = 30_000 }) {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'portvakt-e2e-'));
  const logPath = path.join(dataDir, 'portvakt.log');
  const log = createWriteStream(logPath);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawn(binary(), ['serve'], {
    cwd: dataDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME || dataDir,
      TMPDIR: os.tmpdir(),
      PORTVAKT_ADDR: `127.0.0.1:${port}`,
      PORTVAKT_ISSUER: url,
      PORTVAKT_DATA_DIR: path.join(dataDir, 'data'),
      // A plaintext local server: tls=none never tries STARTTLS.
      PORTVAKT_SMTP_URL: `smtp://127.0.0.1:${smtpPort}?tls=none`,
      PORTVAKT_MAIL_FROM: 'no-reply@portvakt.test',
      PORTVAKT_LOG_FORMAT: 'text',
      PORTVAKT_LOG_LEVEL: 'debug',
      PORTVAKT_SHUTDOWN_TIMEOUT: '5s',
      ...env,
    },
  });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  let exit = null;
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      exit = { code, signal };
      resolve(exit);
    });
  });
  const readLog = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exit) {
      await new Promise((r) => log.end(r));
      const text = readLog();
      rmSync(dataDir, { recursive: true, force: true });
      throw new Error(`portvakt serve exited (${JSON.stringify(exit)}) before it was ready; its log:\n${text}`);
    }
    try {
      const res = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) });
      if (res.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`portvakt serve was not ready within ${readyTimeoutMs} ms; its log:\n${readLog()}`);
    }
    await sleep(100);
  }

  return {
    url,
    port,
    dataDir,
    logPath,
    pid: child.pid,
    /** The server's log so far. */
    log: readLog,
    /** Whether the process is still running. */
    running: () => exit === null,
    /** SIGTERM, then SIGKILL after 10 s; removes the data dir unless keep. */
    async stop({ keep = false } = {}) {
      if (exit === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      await new Promise((r) => log.end(r));
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
      return exit;
    },
  };
}
