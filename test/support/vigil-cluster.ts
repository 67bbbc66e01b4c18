/**
 * Several Vigil nodes in Kafka mode as child processes of the test (one consumer group), each on an
 * OS-chosen port and its own state directory, stopped by its own pid: SIGTERM (graceful: checkpoint,
 * commit, leave the group) or SIGKILL (crash: nothing of the shutdown runs). The node entry is
 * test/kafka-ingest/support/kafka-node.ts (main.ts's wiring around startKafkaPipeline). Every wait
 * is bounded; a node left running is SIGKILLed when the test process exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from './vigil-process.js';
import type { KafkaPipelineStats } from '../../src/app/kafka-pipeline.js';

const ENTRY = join(REPO_ROOT, 'dist', 'test', 'kafka-ingest', 'support', 'kafka-node.js');

/** A series' status as the test route returns it (the counting operator adds `samples`). */
export interface SeriesState {
  readonly lastTs: number;
  readonly samples?: number;
  readonly orderViolations?: number;
  readonly alertStatus?: string;
}

export interface KafkaNode {
  readonly name: string;
  readonly url: string;
  readonly pid: number;
  readonly stateDir: string;
  /** Everything the node wrote (JSON log lines). */
  output(): string;
  /** The pipeline's counters. */
  kafka(): Promise<KafkaPipelineStats>;
  /** Every series this node holds, with its status. */
  series(): Promise<Map<string, SeriesState>>;
  /** The Prometheus exposition text of /metrics. */
  metrics(): Promise<string>;
  /** SIGTERM and wait for exit (graceful). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait for exit. */
  kill9(): Promise<void>;
  readonly exited: boolean;
}

export interface KafkaNodeOptions {
  readonly name: string;
  /** YAML; `state_dir` and `server` are added. */
  readonly configYaml: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Bound on startup (join + restore), ms. @defaultValue 60000 */
  readonly timeoutMs?: number;
}

/** Starts one node and resolves when it listens (it has joined the group and restored its partitions). */
export async function startKafkaNode(opts: KafkaNodeOptions): Promise<KafkaNode> {
  const stateDir = mkdtempSync(join(tmpdir(), `vigil-${opts.name}-`));
  const configFile = `${stateDir}.yaml`;
  writeFileSync(configFile, `state_dir: ${JSON.stringify(stateDir)}\nserver:\n  port: 0\n${opts.configYaml}`);
  const child: ChildProcess = spawn(process.execPath, ['--enable-source-maps', ENTRY, configFile], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let exited = false;
  const exitCode = new Promise<number | null>((r) =>
    child.once('exit', (code) => {
      exited = true;
      r(code);
    }),
  );
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`${opts.name} did not start within ${timeoutMs} ms:\n${out.slice(-4000)}`));
    }, timeoutMs);
    const onData = (): void => {
      const m = /vigil listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1] as string);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exitCode.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${opts.name} exited with ${code} before listening:\n${out.slice(-4000)}`));
    });
  });
  const getJson = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${url}${path}`);
    if (!res.ok) throw new Error(`${opts.name} GET ${path}: ${res.status} ${await res.text()}`);
    return (await res.json()) as T;
  };
  return {
    name: opts.name,
    url,
    pid: child.pid!,
    stateDir,
    output: () => out,
    kafka: () => getJson<KafkaPipelineStats>('/api/test/kafka'),
    async series() {
      const rows = await getJson<{ key: string; result: SeriesState }[]>('/api/test/series');
      return new Map(rows.map((r) => [r.key, r.result]));
    },
    async metrics() {
      return (await fetch(`${url}/metrics`)).text();
    },
    async stop(ms = 30_000) {
      if (exited) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(kill, ms);
      const code = await exitCode;
      clearTimeout(t);
      process.off('exit', kill);
      return code;
    },
    async kill9() {
      kill();
      await exitCode;
      process.off('exit', kill);
    },
    get exited() {
      return exited;
    },
  };
}

/** The value of a Prometheus counter or gauge line (`name{labels} value`), summed over matching lines. */
export function metricValue(
  text: string,
  name: string,
  labels: Readonly<Record<string, string>> = {},
): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const lbl = m[2] ?? '';
    if (Object.entries(labels).every(([k, v]) => lbl.includes(`${k}="${v}"`))) sum += Number(m[3]);
  }
  return sum;
}
