// Accessibility smoke checks run on every page the tests visit.
import assert from 'node:assert/strict';
import { messagePrefixes } from './i18n.mjs';

/**
 * Facts about the current page that the checks need, gathered in one
 * round trip. Works with page JavaScript disabled (Playwright's evaluate
 * runs in its own world).
 */
export function pageFacts(page) {
  return page.evaluate((prefixes) => {
    const visible = (el) => {
      if (el.closest('[hidden]')) return false;
      const s = getComputedStyle(el);
      const r = el.getBoundingClientRect();
      return s.display !== 'none' && s.visibility !== 'hidden' && r.width > 0 && r.height > 0;
    };
    const problems = [];
    const controls = [...document.querySelectorAll('input, select, textarea')].filter(
      (el) => el.type !== 'hidden' && visible(el),
    );
    for (const el of controls) {
      const what = `<${el.tagName.toLowerCase()} name="${el.name}" id="${el.id}">`;
      const label = el.id ? document.querySelector(`label[for="${CSS.escape(el.id)}"]`) : null;
      const ariaLabel = (el.getAttribute('aria-label') || '').trim();
      const labelledBy = (el.getAttribute('aria-labelledby') || '')
        .split(/\s+/)
        .filter(Boolean)
        .map((id) => document.getElementById(id)?.textContent.trim() || '')
        .join(' ')
        .trim();
      if (!(label && label.textContent.trim()) && !ariaLabel && !labelledBy) {
        problems.push(`${what} has neither a <label for> nor an aria-label`);
      }
    }
    for (const el of document.querySelectorAll('[aria-describedby]')) {
      for (const id of el.getAttribute('aria-describedby').split(/\s+/).filter(Boolean)) {
        if (!document.getElementById(id)) problems.push(`aria-describedby="${id}" of #${el.id} names no element`);
      }
    }
    const ids = {};
    for (const el of document.querySelectorAll('[id]')) ids[el.id] = (ids[el.id] || 0) + 1;
    for (const [id, n] of Object.entries(ids)) if (n > 1) problems.push(`id "${id}" is used ${n} times`);
    for (const el of [...document.querySelectorAll('button, a[href]')].filter(visible)) {
      const name = (el.textContent || '').trim() || el.getAttribute('aria-label') || el.querySelector('img[alt]')?.alt;
      if (!name) problems.push(`<${el.tagName.toLowerCase()}> without an accessible name: ${el.outerHTML.slice(0, 80)}`);
    }
    for (const img of document.querySelectorAll('img:not([alt])')) problems.push(`<img src="${img.src}"> without alt`);
    const text = document.body ? document.body.innerText : '';
    const raw = text.match(new RegExp(`\\b(?:${prefixes.join('|')})\\.[a-z_]+(?:\\.[a-z_]+)*\\b`));
    if (raw) problems.push(`untranslated message ID on the page: "${raw[0]}"`);
    const h1 = [...document.querySelectorAll('h1')].filter(visible);
    return {
      lang: document.documentElement.getAttribute('lang'),
      title: document.title,
      h1: h1.map((e) => e.textContent.trim()),
      problems,
      scrollWidth: document.documentElement.scrollWidth,
      innerWidth: window.innerWidth,
      // Under mobile emulation Chromium widens innerWidth to fit content
      // that overflows, so the check also uses the layout width.
      clientWidth: document.documentElement.clientWidth,
    };
  }, messagePrefixes);
}

/** Asserts the smoke checks on the current page; `where` names it in messages. */
export async function checkPage(page, where) {
  const f = await pageFacts(page);
  assert.match(f.lang ?? '', /^(en|sv|fi)$/, `${where}: <html lang> is ${JSON.stringify(f.lang)}`);
  assert.equal(f.h1.length, 1, `${where}: want exactly one visible <h1>, found ${JSON.stringify(f.h1)}`);
  assert.ok(f.h1[0].length > 0, `${where}: the <h1> is empty`);
  assert.ok(f.title.trim().length > 0, `${where}: <title> is empty`);
  assert.deepEqual(f.problems, [], `${where}: accessibility problems`);
  const width = Math.min(f.innerWidth, f.clientWidth);
  assert.ok(
    f.scrollWidth <= width,
    `${where}: scrolls horizontally (scrollWidth ${f.scrollWidth} > innerWidth ${f.innerWidth}, clientWidth ${f.clientWidth})`,
  );
  return f;
}
