// Starts the real portvakt binary on a free port with a fresh data
// directory, restarts it (a new configuration on the same data), and stops
// it. A setup hook can run the binary's CLI (client create, user create,
// …) against that data directory, with the same environment, before
// `serve` starts.
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream, readFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { binary } from './build.mjs';
import { freePort, sleep } from './env.mjs';

/**
 * Runs the portvakt CLI once to completion, e.g. cli(['client', 'create', …]).
 * Resolves to its output; rejects, with stderr in the message, when it
 * exits non-zero or runs longer than 30 s.
 * @callback Cli
 * @param {string[]} args
 * @param {{stdin?: string}} [opts]
 * @returns {Promise<{stdout: string, stderr: string}>}
 */

/**
 * @callback Setup
 * @param {{cli: Cli, url: string, dataDir: string}} ctx  url: where serve will listen (the issuer)
 * @returns {Promise<any>}  kept as the server's `setup`
 */

/**
 * Starts `portvakt serve`. Resolves once GET /readyz answers 200.
 * @param {{smtpPort: number, env?: Record<string,string>, readyTimeoutMs?: number, setup?: Setup, host?: string, engine?: 'sqlite' | 'postgres'}} opts
 *   setup runs before serve, once per data directory (again if the port
 *   was taken and serve is started anew). engine 'postgres' gives the
 *   server a fresh database on the PostgreSQL server that
 *   PORTVAKT_TEST_POSTGRES_URL names (dropped on stop); the default is
 *   SQLite in the data directory.
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

async function start({ smtpPort, env = {}, readyTimeoutMs = 30_000, setup, host = '127.0.0.1', engine = 'sqlite' }) {
  const db = engine === 'postgres' ? await createDatabase() : null;
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'portvakt-e2e-'));
  const logPath = path.join(dataDir, 'portvakt.log');
  const port = await freePort();
  // The issuer. Passkeys need a host name (WebAuthn takes no IP address
  // as its relying party ID), so their tests use localhost; the server
  // listens on 127.0.0.1 either way.
  const url = `http://${host}:${port}`;
  const childEnv = {
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
    ...(db ? { PORTVAKT_DATABASE_URL: db.url } : {}),
    ...env,
  };
  /** @type {Cli} */
  const cli = (args, { stdin } = {}) => runCli({ cwd: dataDir, env: childEnv }, args, stdin);
  let setupResult;
  if (setup) {
    try {
      setupResult = await setup({ cli, url, dataDir });
    } catch (err) {
      rmSync(dataDir, { recursive: true, force: true });
      await db?.drop();
      throw err;
    }
  }
  const log = createWriteStream(logPath);
  let child;
  let exit = null;
  let exited;
  const readLog = () => (existsSync(logPath) ? readFileSync(logPath, 'utf8') : '');

  /** Spawns `portvakt serve` with env and waits until /readyz answers 200. */
  async function launch(env) {
    exit = null;
    child = spawn(binary(), ['serve'], {
      cwd: dataDir,
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    child.stdout.pipe(log, { end: false });
    child.stderr.pipe(log, { end: false });
    const proc = child;
    exited = new Promise((resolve) => {
      proc.on('exit', (code, signal) => {
        exit = { code, signal };
        resolve(exit);
      });
    });
    const deadline = Date.now() + readyTimeoutMs;
    for (;;) {
      if (exit) throw new Error(`portvakt serve exited (${JSON.stringify(exit)}) before it was ready`);
      try {
        const res = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2000) });
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        proc.kill('SIGKILL');
        throw new Error(`portvakt serve was not ready within ${readyTimeoutMs} ms`);
      }
      await sleep(100);
    }
  }

  /** SIGTERM, then SIGKILL after 10 s. */
  async function terminate() {
    if (exit === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    }
  }

  try {
    await launch(childEnv);
  } catch (err) {
    await terminate().catch(() => {});
    await new Promise((r) => log.end(r));
    const text = readLog();
    rmSync(dataDir, { recursive: true, force: true });
    await db?.drop();
    throw new Error(`${err.message}; its log:\n${text}`);
  }

  return {
    url,
    port,
    dataDir,
    engine,
    logPath,
    /** The running process's ID. */
    get pid() {
      return child.pid;
    },
    /** What the setup hook returned (undefined without one). */
    setup: setupResult,
    /** The CLI against this server's data directory and environment. */
    cli,
    /** The server's log so far. */
    log: readLog,
    /** Whether the process is still running. */
    running: () => exit === null,
    /**
     * Stops serve and starts it again on the same port and data (the same
     * database), with env added to its environment: what a deployment of a
     * new configuration does. The config file, if any, is read anew.
     * @param {{env?: Record<string,string>}} [opts]
     */
    async restart({ env: more = {} } = {}) {
      await terminate();
      Object.assign(childEnv, more);
      await launch(childEnv);
    },
    /** SIGTERM, then SIGKILL after 10 s; removes the data dir unless keep. */
    async stop({ keep = false } = {}) {
      await terminate();
      await new Promise((r) => log.end(r));
      if (!keep) rmSync(dataDir, { recursive: true, force: true });
      await db?.drop();
      return exit;
    },
  };
}

/**
 * Creates a fresh database on the PostgreSQL server PORTVAKT_TEST_POSTGRES_URL
 * names (with psql), and returns its URL and a function that drops it.
 */
async function createDatabase() {
  const base = process.env.PORTVAKT_TEST_POSTGRES_URL;
  if (!base) throw new Error('engine postgres needs PORTVAKT_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable)');
  const name = `portvakt_e2e_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const psql = (sql) => new Promise((resolve, reject) => {
    execFile('psql', [base, '-v', 'ON_ERROR_STOP=1', '-qc', sql], { timeout: 30_000 }, (err, _out, stderr) => {
      if (err) reject(new Error(`psql ${sql}: ${stderr || err.message}`));
      else resolve();
    });
  });
  await psql(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      await psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => {});
    },
  };
}

/** Runs the binary with args to completion in cwd with env; see Cli. */
function runCli({ cwd, env }, args, stdin) {
  return new Promise((resolve, reject) => {
    const child = execFile(binary(), args, { cwd, env, timeout: 30_000, maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const how = err.killed ? `killed (${err.signal}) after 30 s` : `exited with ${err.code}`;
        reject(new Error(`portvakt ${args.join(' ')}: ${how}\n${stderr}`));
        return;
      }
      resolve({ stdout, stderr });
    });
    child.stdin.end(stdin ?? '');
  });
}
