// A real SMTP server on 127.0.0.1 (no TLS, no auth) that keeps every mail
// it receives, parsed, for the tests to wait for.
import { SMTPServer } from 'smtp-server';
import { simpleParser } from 'mailparser';

/**
 * @typedef {object} Mail
 * @property {string[]} to        envelope recipients (RCPT TO), lower case
 * @property {string} from        envelope sender (MAIL FROM)
 * @property {string} fromHeader  the From header's address
 * @property {string} subject
 * @property {string} text        the text/plain body
 * @property {string} html        the text/html body
 * @property {string[]} links     every http(s) URL in the text and the HTML, deduplicated
 * @property {string|null} code   a 6-digit code standing alone on a line of the text
 * @property {Date} receivedAt
 * @property {Record<string,string>} headers
 */

/** Starts the server on a free port; resolves to a mailbox. */
export async function startMailbox() {
  /** @type {Mail[]} */
  const mails = [];
  const taken = new Set();
  const waiters = new Set();
  const errors = [];

  const server = new SMTPServer({
    secure: false,
    disabledCommands: ['STARTTLS'],
    authOptional: true,
    logger: false,
    banner: 'portvakt e2e mailbox',
    size: 10 * 1024 * 1024,
    onData(stream, session, callback) {
      simpleParser(stream)
        .then((parsed) => {
          const text = parsed.text || '';
          const html = typeof parsed.html === 'string' ? parsed.html : '';
          const links = new Set();
          for (const m of text.matchAll(/https?:\/\/[^\s<>"')]+/g)) links.add(m[0]);
          for (const m of html.matchAll(/href="(https?:\/\/[^"]+)"/g)) links.add(m[1].replace(/&amp;/g, '&'));
          const code = text.match(/^\s*(\d{6})\s*$/m);
          const headers = {};
          for (const [k, v] of parsed.headers) headers[k] = typeof v === 'string' ? v : JSON.stringify(v);
          const mail = {
            to: session.envelope.rcptTo.map((r) => r.address.toLowerCase()),
            from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
            fromHeader: parsed.from?.value?.[0]?.address || '',
            subject: parsed.subject || '',
            text,
            html,
            links: [...links],
            code: code ? code[1] : null,
            receivedAt: new Date(),
            headers,
          };
          mails.push(mail);
          for (const w of [...waiters]) w.check();
          callback();
        })
        .catch((err) => {
          errors.push(err);
          callback(err);
        });
    },
  });
  server.on('error', (err) => errors.push(err));

  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address();

  const matches = (mail, { to, subjectIncludes }) =>
    (!to || mail.to.includes(to.toLowerCase())) &&
    (!subjectIncludes || mail.subject.includes(subjectIncludes));

  return {
    port,
    /** Every mail received so far. */
    mails,
    /** Parse or server errors, if any. */
    errors,
    /**
     * Resolves to the oldest mail matching the filter that no earlier
     * waitFor returned; rejects after timeoutMs listing what did arrive.
     * @param {{to?: string, subjectIncludes?: string, timeoutMs?: number}} filter
     * @returns {Promise<Mail>}
     */
    waitFor(filter = {}) {
      const timeoutMs = filter.timeoutMs ?? 10_000;
      return new Promise((resolve, reject) => {
        const waiter = {
          check() {
            const mail = mails.find((m) => !taken.has(m) && matches(m, filter));
            if (!mail) return false;
            taken.add(mail);
            clearTimeout(waiter.timer);
            waiters.delete(waiter);
            resolve(mail);
            return true;
          },
        };
        if (waiter.check()) return;
        waiter.timer = setTimeout(() => {
          waiters.delete(waiter);
          const seen = mails.map((m) => `  - to ${m.to.join(',')}: ${JSON.stringify(m.subject)}${taken.has(m) ? ' (already taken)' : ''}`);
          reject(new Error(`no mail ${JSON.stringify({ to: filter.to, subjectIncludes: filter.subjectIncludes })} within ${timeoutMs} ms; received:\n${seen.join('\n') || '  (none)'}`));
        }, timeoutMs);
        waiters.add(waiter);
      });
    },
    /** Mails to an address, taken or not. */
    to(address) {
      return mails.filter((m) => m.to.includes(address.toLowerCase()));
    },
    close() {
      for (const w of waiters) clearTimeout(w.timer);
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
