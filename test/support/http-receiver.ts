/**
 * A real HTTP receiver for tests (node:http on 127.0.0.1, an OS-chosen port): records every
 * request (method, path, headers, body, the status it was answered with) and can be switched
 * between behaviours while a test runs: answer a status (optionally with Retry-After), follow a
 * script of statuses, delay answers, hang (never answer, so the client times out), or go down
 * (stop listening and drop connections: "connection refused") and come back up on the same port.
 *
 * Start: `const r = await startHttpReceiver()`, then point a webhook at `r.url`. Stop with
 * `await r.close()` (no process is spawned).
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface ReceivedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** Arrival time (epoch ms). */
  readonly at: number;
  /** What it was answered with (0 = never answered: hang or dropped). */
  status: number;
}

export type Behaviour =
  | {
      readonly kind: 'status';
      readonly status: number;
      readonly retryAfter?: string;
      readonly delayMs?: number;
    }
  | { readonly kind: 'hang' };

export interface HttpReceiver {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly port: number;
  /** Every request that reached the server, in arrival order. */
  readonly requests: ReceivedRequest[];
  /** Requests answered with 2xx. */
  delivered(): ReceivedRequest[];
  /** Sets the behaviour for the following requests (after any script is used up). */
  behave(b: Behaviour): void;
  /** Answers the next requests with these statuses, one each, then falls back to `behave`. */
  script(statuses: readonly number[]): void;
  /** Stops listening and destroys every connection (clients see refused connections). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Resolves when `pred()` holds; rejects after `timeoutMs`. */
  waitFor(pred: () => boolean, timeoutMs: number, what?: string): Promise<void>;
  close(): Promise<void>;
}

export async function startHttpReceiver(): Promise<HttpReceiver> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<ServerResponse>();
  let behaviour: Behaviour = { kind: 'status', status: 200 };
  let scripted: number[] = [];
  let server: Server;
  let port = 0;

  const handler = (req: IncomingMessage, res: ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const rec: ReceivedRequest = {
        method: req.method ?? '',
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString('utf8'),
        at: Date.now(),
        status: 0,
      };
      requests.push(rec);
      const next = scripted.shift();
      const b: Behaviour = next !== undefined ? { kind: 'status', status: next } : behaviour;
      if (b.kind === 'hang') {
        hanging.add(res);
        res.on('close', () => hanging.delete(res));
        return;
      }
      const answer = (): void => {
        rec.status = b.status;
        const headers: Record<string, string> = { 'content-type': 'application/json' };
        if (b.retryAfter !== undefined) headers['retry-after'] = b.retryAfter;
        res.writeHead(b.status, headers);
        res.end(JSON.stringify({ status: b.status }));
      };
      if (b.delayMs) setTimeout(answer, b.delayMs);
      else answer();
    });
  };

  const listen = (p: number): Promise<void> =>
    new Promise((resolve, reject) => {
      server = createServer(handler);
      server.keepAliveTimeout = 1000;
      server.on('connection', (s: Socket) => {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
      });
      server.once('error', reject);
      server.listen(p, '127.0.0.1', () => {
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });

  const stop = (): Promise<void> =>
    new Promise((resolve) => {
      for (const r of hanging) r.destroy();
      hanging.clear();
      server.close(() => resolve());
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
    });

  await listen(0);
  let isUp = true;
  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    requests,
    delivered: () => requests.filter((r) => r.status >= 200 && r.status < 300),
    behave(b) {
      behaviour = b;
    },
    script(statuses) {
      scripted = [...statuses];
    },
    async down() {
      if (!isUp) return;
      isUp = false;
      await stop();
    },
    async up() {
      if (isUp) return;
      await listen(port);
      isUp = true;
    },
    async waitFor(pred, timeoutMs, what = 'condition') {
      const deadline = Date.now() + timeoutMs;
      while (!pred()) {
        if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      if (isUp) {
        isUp = false;
        await stop();
      }
    },
  };
}
