/**
 * A real SMTP server for tests (npm `smtp-server` on 127.0.0.1, an OS-chosen port, no TLS, any
 * or no AUTH accepted) that records every accepted message and can be switched between failure
 * modes while a test runs:
 * - `accept`: 250 for every message;
 * - `tempfail`: 451 on DATA (a temporary failure: the client should retry);
 * - `permfail`: 550 on DATA (permanent: the client must not retry);
 * - `refuse`: not listening at all (connection refused), until `mode('accept')` listens again
 *   on the same port.
 *
 * Start: `const smtp = await startSmtpSink()`, point an email config at
 * `smarthost: 127.0.0.1:<smtp.port>` with `require_tls: false`; stop with `await smtp.close()`.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  readonly from: string;
  readonly to: readonly string[];
  /** The raw RFC 5322 message. */
  readonly raw: string;
  /** Unfolded header values by lower-case name (the last one wins). */
  readonly headers: ReadonlyMap<string, string>;
  readonly subject: string;
  readonly at: number;
}

/** Decodes a quoted-printable body. */
function decodeQp(s: string): string {
  const bytes: number[] = [];
  const text = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (c === '=' && /^[0-9A-F]{2}$/i.test(text.slice(i + 1, i + 3))) {
      bytes.push(parseInt(text.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(c, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/**
 * The decoded parts of a message (a minimal MIME walk: multipart boundaries, quoted-printable
 * and base64 transfer encodings), with their content type and Content-ID.
 */
export function mimeParts(raw: string): { type: string; cid?: string; body: Buffer }[] {
  const out: { type: string; cid?: string; body: Buffer }[] = [];
  const walk = (entity: string): void => {
    const split = entity.search(/\r?\n\r?\n/);
    const head = parseHeaders(entity);
    const body = split < 0 ? '' : entity.slice(split).replace(/^\r?\n\r?\n/, '');
    const type = head.get('content-type') ?? 'text/plain';
    const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
    if (type.toLowerCase().startsWith('multipart/') && boundary) {
      const pieces = body.split(`--${boundary}`).slice(1);
      for (const p of pieces) if (!p.startsWith('--')) walk(p.replace(/^\r?\n/, ''));
      return;
    }
    const enc = (head.get('content-transfer-encoding') ?? '').toLowerCase();
    const decoded =
      enc === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64')
        : Buffer.from(enc === 'quoted-printable' ? decodeQp(body) : body, 'utf8');
    const cid = head.get('content-id')?.replace(/^<|>$/g, '');
    out.push({ type: type.split(';')[0]!.trim().toLowerCase(), ...(cid ? { cid } : {}), body: decoded });
  };
  walk(raw);
  return out;
}

/** The text/plain body of a message. */
export function textOf(mail: ReceivedMail): string {
  return (
    mimeParts(mail.raw)
      .find((p) => p.type === 'text/plain')
      ?.body.toString('utf8') ?? ''
  );
}

export type SmtpMode = 'accept' | 'tempfail' | 'permfail' | 'refuse';

export interface SmtpSink {
  readonly port: number;
  readonly smarthost: string;
  /** Accepted messages, in arrival order. */
  readonly messages: ReceivedMail[];
  /** DATA commands answered with a failure (451/550), counted. */
  readonly rejected: { temp: number; perm: number };
  mode(m: SmtpMode): Promise<void>;
  waitFor(pred: () => boolean, timeoutMs: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

function parseHeaders(raw: string): Map<string, string> {
  const head = raw.split(/\r?\n\r?\n/, 1)[0] ?? '';
  const unfolded = head.replace(/\r?\n[ \t]+/g, ' ');
  const out = new Map<string, string>();
  for (const line of unfolded.split(/\r?\n/)) {
    const i = line.indexOf(':');
    if (i > 0) out.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  return out;
}

export async function startSmtpSink(): Promise<SmtpSink> {
  const messages: ReceivedMail[] = [];
  const rejected = { temp: 0, perm: 0 };
  let current: SmtpMode = 'accept';
  let server: SMTPServer | undefined;
  let port = 0;

  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = new SMTPServer({
        authOptional: true,
        disabledCommands: ['STARTTLS'],
        logger: false,
        closeTimeout: 200,
        onAuth(_auth, _session, cb) {
          cb(null, { user: 'test' });
        },
        onData(stream, session, cb) {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            if (current === 'tempfail' || current === 'permfail') {
              const temp = current === 'tempfail';
              if (temp) rejected.temp++;
              else rejected.perm++;
              const err = Object.assign(new Error(temp ? 'try again later' : 'mailbox unavailable'), {
                responseCode: temp ? 451 : 550,
              });
              cb(err);
              return;
            }
            const raw = Buffer.concat(chunks).toString('utf8');
            const headers = parseHeaders(raw);
            messages.push({
              from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
              to: session.envelope.rcptTo.map((r) => r.address),
              raw,
              headers,
              subject: headers.get('subject') ?? '',
              at: Date.now(),
            });
            cb(null);
          });
        },
      });
      s.on('error', () => undefined); // client disconnects mid-session are expected in fault tests
      s.server.once('error', reject);
      s.listen(p, '127.0.0.1', () => {
        port = (s.server.address() as AddressInfo).port;
        server = s;
        resolve();
      });
    });

  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      const s = server;
      server = undefined;
      if (!s) return resolve();
      s.close(() => resolve());
    });

  await listen(0);
  return {
    get port() {
      return port;
    },
    get smarthost() {
      return `127.0.0.1:${port}`;
    },
    messages,
    rejected,
    async mode(m) {
      current = m;
      if (m === 'refuse') await stop();
      else if (!server) await listen(port);
    },
    async waitFor(pred, timeoutMs, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: stop,
  };
}
