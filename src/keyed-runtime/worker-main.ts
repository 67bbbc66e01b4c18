/**
 * Entry point of a worker thread: loads the operator module named in `init`, then serves
 * batches, snapshots, restores, queries and broadcasts in arrival order (the port is FIFO, so a
 * snapshot request sees every batch sent before it: a consistent cut without stopping ingest).
 */
import { parentPort } from 'node:worker_threads';
import { KeyedStore } from './keyed-store.js';
import type { FromWorker, ToWorker } from './protocol.js';
import type { KeyedOperator, OperatorModule } from './types.js';

const port = parentPort;
if (!port) throw new Error('worker-main.ts must run on a worker thread');

let store: KeyedStore<unknown, unknown> | undefined;
let operator: KeyedOperator<unknown, unknown> | undefined;
/** Where the main thread reads which sample was being processed if this thread dies. */
let probe: Float64Array<ArrayBufferLike> = new Float64Array(2);
const pending: ToWorker[] = [];

/** Least time between two operator stats snapshots on acknowledgements, ms. */
const STATS_INTERVAL_MS = 1000;
let statsCheckedAt = 0;
let lastStats: Readonly<Record<string, number>> | undefined;

/**
 * The operator's `stats()` snapshot when it is due (at most once per STATS_INTERVAL_MS) and
 * differs from the last one sent; otherwise undefined. Copied, so later changes to the
 * operator's own object cannot hide a difference.
 */
function statsIfDue(now: number): Readonly<Record<string, number>> | undefined {
  if (!operator?.stats || now - statsCheckedAt < STATS_INTERVAL_MS) return undefined;
  statsCheckedAt = now;
  const snap = { ...operator.stats() };
  const prev = lastStats;
  if (prev && Object.keys(snap).length === Object.keys(prev).length) {
    let same = true;
    for (const k in snap) if (!Object.is(snap[k], prev[k])) same = false;
    if (same) return undefined;
  }
  lastStats = snap;
  return snap;
}

function send(msg: FromWorker, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(msg, transfer);
}

function handle(msg: ToWorker): void {
  const s = store!;
  switch (msg.t) {
    case 'batch': {
      if (msg.newKeys) {
        const nk = msg.newKeys;
        for (let i = 0; i < nk.keys.length; i++)
          s.addKey(nk.ids[i] as number, nk.keys[i] as string, nk.keyGroups[i] as number);
      }
      let processed = 0;
      let stale = 0;
      const now = Date.now();
      const p = probe;
      for (let i = 0; i < msg.n; i++) {
        const id = msg.ids[i] as number;
        const ts = msg.ts[i] as number;
        p[0] = id;
        p[1] = ts;
        if (s.process(id, ts, msg.values[i] as number, now)) processed++;
        else stale++;
      }
      p[0] = -1;
      const { outputs, errors } = s.drain();
      const stats = statsIfDue(now);
      send({ t: 'ack', seq: msg.seq, processed, stale, outputs, errors, ...(stats ? { stats } : {}) });
      return;
    }
    case 'restore': {
      for (let i = 0; i < msg.keys.length; i++) {
        const from = msg.offsets[i] as number;
        const to = msg.offsets[i + 1] as number;
        const state = to > from ? operator!.codec.decode(msg.states.subarray(from, to)) : undefined;
        s.addKey(
          msg.ids[i] as number,
          msg.keys[i] as string,
          msg.keyGroups[i] as number,
          msg.lastTs[i],
          msg.lastValues[i],
          state,
        );
      }
      send({ t: 'reply', seq: msg.seq, result: msg.keys.length });
      return;
    }
    case 'snapshot': {
      const kgs = msg.keyGroups ?? s.keyGroups();
      const lengths = kgs.map((g) => s.keyGroupByteLength(g));
      const total = lengths.reduce((a, b) => a + b, 0);
      const buffer =
        msg.into && msg.into.byteLength >= total
          ? msg.into
          : new SharedArrayBuffer(Math.max(total, 2 * (msg.into?.byteLength ?? 0)));
      const out = new Uint8Array(buffer);
      let offset = 0;
      const groups = kgs.map((g, i) => {
        const length = lengths[i] as number;
        const keys = s.encodeKeyGroupInto(g, out, offset);
        const at = offset;
        offset += length;
        return { keyGroup: g, offset: at, length, keys };
      });
      send({ t: 'snapshot', seq: msg.seq, buffer, groups });
      return;
    }
    case 'drop':
      s.dropKeyGroups(msg.keyGroups);
      send({ t: 'reply', seq: msg.seq, result: true });
      return;
    case 'query':
      send({ t: 'reply', seq: msg.seq, result: s.query(msg.id, msg.query) });
      return;
    case 'queryAll':
      send({ t: 'reply', seq: msg.seq, result: s.queryAll(msg.query, msg.limit) });
      return;
    case 'broadcast':
      operator!.onBroadcast?.(msg.message);
      return;
    case 'expire':
      send({ t: 'expired', seq: msg.seq, keys: s.expire(msg.olderThanMs) });
      return;
    case 'init':
      return;
  }
}

port.on('message', (msg: ToWorker) => {
  if (msg.t === 'init') {
    void init(msg);
    return;
  }
  if (!store) pending.push(msg);
  else handle(msg);
});

async function init(msg: Extract<ToWorker, { t: 'init' }>): Promise<void> {
  try {
    probe = new Float64Array(msg.probe);
    const mod = (await import(msg.operatorModule)) as OperatorModule<unknown, unknown>;
    operator = mod.createOperator(msg.operatorOptions);
    for (const b of msg.broadcasts) operator.onBroadcast?.(b);
    store = new KeyedStore(operator, Date.now);
    setInterval(() => {
      const now = Date.now();
      store!.fireTimers(now);
      const { outputs, errors } = store!.drain();
      // Also carries stats that changed after the last batch, so a worker that went quiet still
      // reports its final counts within about two seconds.
      const stats = statsIfDue(now);
      if (outputs.length || errors.length || stats)
        send({ t: 'ack', seq: -1, processed: 0, stale: 0, outputs, errors, ...(stats ? { stats } : {}) });
    }, 1000).unref();
    send({ t: 'ready' });
    for (const m of pending.splice(0)) handle(m);
  } catch (err) {
    send({
      t: 'fatal',
      error: { code: 'RUNTIME_WORKER_FAILED', message: `cannot load operator: ${String(err)}` },
    });
  }
}
