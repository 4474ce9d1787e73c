// The server's own message catalog (internal/i18n/locales), so tests can
// assert the exact text a page should show in each language.
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from './env.mjs';

const dir = path.join(repoRoot, 'internal', 'i18n', 'locales');
const catalog = {};
for (const file of readdirSync(dir)) {
  const m = file.match(/^[a-z]+\.([a-z]{2})\.json$/);
  if (!m) continue;
  Object.assign((catalog[m[1]] ??= {}), JSON.parse(readFileSync(path.join(dir, file), 'utf8')));
}

/** The message id in lang, with {{.Name}} placeholders filled from vars. */
export function t(lang, id, vars = {}) {
  const msg = catalog[lang]?.[id];
  if (msg === undefined) throw new Error(`no message ${id} in ${lang}`);
  return msg.replace(/\{\{\s*\.(\w+)\s*\}\}/g, (_, k) => {
    if (!(k in vars)) throw new Error(`message ${lang}:${id} needs ${k}`);
    return String(vars[k]);
  });
}

/** A case-sensitive RegExp matching the message literally. */
export function tRe(lang, id, vars) {
  return new RegExp(t(lang, id, vars).replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
}

/** The ID prefixes of page messages: a page showing "login.title" shows a missing message. */
export const messagePrefixes = [
  ...new Set(Object.keys(catalog.en).map((id) => id.split('.')[0])),
];
