// Builds the portvakt binary from the working tree, once per `npm test`.
//
// `npm test` runs this file first (it prints the binary's path), then the
// test files, which all start that same binary. A test file run on its own
// (node --test tests/x.test.mjs) builds the binary only if it is missing;
// PORTVAKT_E2E_BINARY names a binary to use instead of building one.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot, outputDir } from './env.mjs';

export const defaultBinary = path.join(outputDir, 'e2e-bin', 'portvakt');

/** Builds ./cmd/portvakt into test-output/e2e-bin/portvakt and returns the path. */
export function buildBinary() {
  mkdirSync(path.dirname(defaultBinary), { recursive: true });
  const started = Date.now();
  execFileSync('go', ['build', '-o', defaultBinary, './cmd/portvakt'], { cwd: repoRoot, stdio: 'inherit' });
  return { path: defaultBinary, ms: Date.now() - started };
}

/** The binary to test: PORTVAKT_E2E_BINARY, or the built one (built if missing). */
export function binary() {
  if (process.env.PORTVAKT_E2E_BINARY) return process.env.PORTVAKT_E2E_BINARY;
  if (!existsSync(defaultBinary)) buildBinary();
  return defaultBinary;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (process.env.PORTVAKT_E2E_BINARY) {
    console.log(`e2e: testing ${process.env.PORTVAKT_E2E_BINARY} (PORTVAKT_E2E_BINARY); not building`);
    process.exit(0);
  }
  try {
    const { path: p, ms } = buildBinary();
    console.log(`e2e: built ${path.relative(process.cwd(), p)} in ${(ms / 1000).toFixed(1)} s`);
  } catch (err) {
    console.error(`e2e: go build ./cmd/portvakt failed: ${err.message}`);
    process.exit(1);
  }
}
