/**
 * HTTP load generator for the ingest benchmarks, run on a worker thread so the bench process's
 * main thread stays free. Each connection owns a disjoint set of series and sends its requests
 * one after another (keep-alive), so every series' samples arrive in time order. A request
 * carries one sample for each of the connection's series at the same timestamp ("round").
 *
 * Modes: closed loop (as fast as answers come back: maximum throughput) or open loop at a fixed
 * request rate (latency at a given load; a late request is sent at once and its latency counts
 * from its scheduled time, so coordinated omission does not hide queueing).
 */
import { Agent, request } from 'node:http';
import { parentPort, workerData } from 'node:worker_threads';

export interface LoadgenJob {
  readonly url: string;
  readonly connections: number;
  readonly seriesPerConnection: number;
  /** First round index and event-time step per round (ms). */
  readonly firstRound: number;
  readonly t0Ms: number;
  readonly stepMs: number;
  readonly durationMs: number;
  /** Requests per second across all connections (open loop), or 0 for closed loop. */
  readonly rate: number;
  /** Every `spikeEvery` rounds, series 0 of each connection gets a spike (latency probes). */
  readonly spikeEvery: number;
  /** Record each acknowledged request's send time by "connection:round" (alert-latency probes). */
  readonly recordSends?: boolean;
  readonly metric: string;
}

export interface LoadgenResult {
  readonly requests: number;
  readonly samplesAcked: number;
  readonly non2xx: Record<string, number>;
  readonly elapsedMs: number;
  /** Request latencies, ms. */
  readonly latenciesMs: number[];
  /** Send time (epoch ms) of each spike, keyed by "connection:round". */
  readonly spikes: Record<string, number>;
  /** With `recordSends`: send time (epoch ms) of every acknowledged request, by "connection:round". */
  readonly sends: Record<string, number>;
  readonly lastRound: number;
}

/** A seeded PRNG (mulberry32) and standard normal draws (Box–Muller): reproducible noise. */
function normals(seed: number): () => number {
  let a = seed >>> 0;
  const u = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

/** Rounds (1-minute steps) per cycle of the synthetic series. */
const CYCLE = 240;

function body(
  job: LoadgenJob,
  prefixes: string[],
  noise: () => number,
  round: number,
  spike: boolean,
): string {
  const ts = job.t0Ms + round * job.stepMs;
  const parts = new Array<string>(prefixes.length);
  const phase = (2 * Math.PI * ((ts / 60_000) % CYCLE)) / CYCLE;
  for (let k = 0; k < prefixes.length; k++) {
    // A 4-hour cycle (per-series level and phase) plus Gaussian noise: the work of a seasonal
    // series for the detector. (A daily cycle at 1-minute steps is confirmed only after ~3.3
    // days, 4726 samples; until then its models alarm often, which would measure the cold start.)
    let v = 100 + (k % 50) + 30 * Math.sin(phase + k) + 2 * noise();
    if (spike && k === 0) v = 1e6;
    parts[k] = `${prefixes[k]}${ts},"value":${v.toFixed(3)}}`;
  }
  return `{"samples":[${parts.join(',')}]}`;
}

export async function runLoad(job: LoadgenJob): Promise<LoadgenResult> {
  const url = new URL('/api/v1/samples', job.url);
  const agent = new Agent({ keepAlive: true, maxSockets: job.connections });
  const latenciesMs: number[] = [];
  const non2xx: Record<string, number> = {};
  const spikes: Record<string, number> = {};
  const sends: Record<string, number> = {};
  let requests = 0;
  let samplesAcked = 0;
  let lastRound = job.firstRound;
  const start = Date.now();
  const end = start + job.durationMs;
  const interval = job.rate > 0 ? (1000 * job.connections) / job.rate : 0;

  const post = (payload: string): Promise<{ status: number; accepted: number }> =>
    new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () => {
            let accepted = 0;
            if (res.statusCode === 200) {
              const m = /"accepted":(\d+)/.exec(text);
              accepted = m ? Number(m[1]) : 0;
            }
            resolve({ status: res.statusCode ?? 0, accepted });
          });
        },
      );
      req.on('error', reject);
      req.end(payload);
    });

  await Promise.all(
    Array.from({ length: job.connections }, async (_, c) => {
      const prefixes = Array.from(
        { length: job.seriesPerConnection },
        (_, k) => `{"metric":"${job.metric}","labels":{"conn":"c${c}","series":"s${k}","env":"bench"},"ts":`,
      );
      let round = job.firstRound;
      const noise = normals(c * 1_000_003 + job.firstRound);
      let scheduled = start + (interval * c) / job.connections;
      // A refused request (503) is sent again unchanged, as a client retries its batch, after a
      // backoff of 5 ms doubling to 50 ms while refusals continue (Prometheus remote write backs
      // off from 30 ms); the next round's body is built only after an acknowledgement.
      let payload: string | undefined;
      let backoffMs = 5;
      while (Date.now() < end) {
        if (interval > 0) {
          const wait = scheduled - Date.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        }
        const spike = job.spikeEvery > 0 && round % job.spikeEvery === job.spikeEvery - 1;
        payload ??= body(job, prefixes, noise, round, spike);
        const sentAt = interval > 0 ? scheduled : Date.now();
        const sendTime = Date.now();
        if (spike) spikes[`${c}:${round}`] = sendTime;
        const r = await post(payload);
        if (job.recordSends && r.status === 200) sends[`${c}:${round}`] = sendTime;
        latenciesMs.push(Date.now() - sentAt);
        requests++;
        samplesAcked += r.accepted;
        if (r.status !== 200) non2xx[r.status] = (non2xx[r.status] ?? 0) + 1;
        if (r.status === 200) {
          round++;
          payload = undefined;
          backoffMs = 5;
        }
        lastRound = Math.max(lastRound, round);
        scheduled += interval;
        if (r.status === 503) {
          await new Promise((res) => setTimeout(res, backoffMs));
          backoffMs = Math.min(50, 2 * backoffMs);
        }
      }
    }),
  );
  agent.destroy();
  return {
    requests,
    samplesAcked,
    non2xx,
    elapsedMs: Date.now() - start,
    latenciesMs,
    spikes,
    sends,
    lastRound,
  };
}

if (parentPort && workerData) {
  const port = parentPort;
  runLoad(workerData as LoadgenJob).then(
    (r) => port.postMessage(r),
    (err: unknown) => port.postMessage({ error: String(err) }),
  );
}
