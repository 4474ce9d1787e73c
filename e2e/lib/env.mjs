// Paths and small utilities shared by the end-to-end helpers.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import net from 'node:net';

/** The repository root (the directory above e2e/). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where screenshots, logs and failure artefacts go (git-ignored). */
export const outputDir = process.env.PORTVAKT_E2E_OUTPUT || path.join(repoRoot, 'test-output');

/** The browser: Debian's Chromium unless PORTVAKT_CHROMIUM names another. */
export const chromiumPath = process.env.PORTVAKT_CHROMIUM || '/usr/bin/chromium';

/** A file-name-safe form of a test or page name. */
export function slug(s) {
  return String(s)
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 80) || 'unnamed';
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A unique mail address for one test, so tests never share accounts. */
export function uniqueEmail(prefix) {
  const rand = Math.random().toString(36).slice(2, 8);
  return `${slug(prefix)}-${Date.now().toString(36)}-${rand}@example.test`;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
