/**
 * A real Apache Kafka broker for integration tests (no Docker, no mocks).
 *
 * How it is started: one single-node KRaft JVM (process.roles=broker,controller) on 127.0.0.1,
 * run from the Maven Central jars that `node scripts/prepare-kafka.mjs` copied to
 * `.kafka/libs-<version>/` (`npm test` runs it first; run it yourself before a single test file):
 *   1. two free loopback ports (PLAINTEXT, CONTROLLER) and a fresh temp dir holding server.properties;
 *   2. `java -cp '.kafka/libs-<v>/*' kafka.tools.StorageTool format -t <random cluster id> -c server.properties`;
 *   3. `java -Xmx512m … kafka.Kafka server.properties`, stdout and stderr appended to `<dataDir>/broker.log`;
 *   4. ready = the line "Kafka Server started" in that log AND a kafkajs `describeCluster()` answering.
 * The version is the `<kafka.version>` pinned in test/kafka/pom.xml, or `VIGIL_KAFKA_VERSION`.
 * Recipe and configuration notes: /work/shared/design/kafka-and-state.md, section 4.
 *
 * Teardown is by pid only. So that a crashed test never leaves a broker running, each broker has a
 * watchdog (`sh`, blocked reading a pipe whose other end only this process holds) that SIGKILLs the
 * broker and deletes its data dir once this process is gone, however it died (SIGKILL included), and
 * a process 'exit' hook does the same on a normal exit. The broker child is unref'd: a test that
 * forgets `stop()` exits (and kills its broker) instead of hanging.
 */
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdtemp, open, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { Kafka, logLevel } from 'kafkajs';

/** Codes of {@link KafkaBrokerError}. */
export type KafkaBrokerErrorCode =
  | 'KAFKA_TEST_NOT_PREPARED'
  | 'KAFKA_TEST_FORMAT_FAILED'
  | 'KAFKA_TEST_START_FAILED'
  | 'KAFKA_TEST_STOP_FAILED'
  | 'KAFKA_TEST_TOPIC_EXISTS';

/** Failure of the test broker harness; start failures carry the broker log's tail in the message. */
export class KafkaBrokerError extends Error {
  override readonly name = 'KafkaBrokerError';
  constructor(
    readonly code: KafkaBrokerErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Options of {@link startKafkaBroker}. */
export interface KafkaBrokerOptions {
  /** Bound on start and on restart until ready, in ms. @defaultValue 60000 */
  readonly readyTimeoutMs?: number;
  /** Bound on a graceful stop (SIGTERM) before SIGKILL, in ms. @defaultValue 15000 */
  readonly stopTimeoutMs?: number;
  /** Extra or overriding server.properties entries, e.g. `{ 'log.segment.bytes': '1048576' }`. */
  readonly properties?: Readonly<Record<string, string>>;
}

/** A running single-node broker. All methods are bounded in time. */
export interface KafkaBroker {
  /** Kafka version this broker runs, e.g. `'4.3.1'`. */
  readonly version: string;
  /** Bootstrap addresses for kafkajs: `['127.0.0.1:<port>']`. Stable across restarts. */
  readonly brokers: string[];
  /** Pid of the current broker JVM (a new one after {@link KafkaBroker.restart}). */
  readonly pid: number;
  /** The broker's temp dir: server.properties, broker.log, data/. Deleted by {@link KafkaBroker.stop}. */
  readonly dataDir: string;
  /** SIGTERM, then SIGKILL after `stopTimeoutMs`; then deletes `dataDir`. Idempotent. */
  stop(): Promise<void>;
  /** SIGKILL (an unclean crash); keeps `dataDir` for {@link KafkaBroker.restart}. */
  kill9(): Promise<void>;
  /** Starts the broker again on the same ports and data dir (no re-format), stopping it first if running. */
  restart(): Promise<void>;
  /**
   * Creates a topic with replication factor 1 and waits for its partition leaders.
   * @param config topic configs, e.g. `{ 'cleanup.policy': 'compact' }`
   * @throws KafkaBrokerError `KAFKA_TEST_TOPIC_EXISTS` if the topic exists
   */
  createTopic(name: string, partitions: number, config?: Readonly<Record<string, string>>): Promise<void>;
}

const STARTED_LINE = 'Kafka Server started';
const LOG_TAIL_LINES = 40;

/** The repository root: the nearest ancestor of this file holding test/kafka/pom.xml (from src or dist). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'test', 'kafka', 'pom.xml'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('kafka-broker: test/kafka/pom.xml not found above this file');
    dir = up;
  }
  return dir;
}

/** The Kafka version tests run: `VIGIL_KAFKA_VERSION`, else `<kafka.version>` in test/kafka/pom.xml. */
export function kafkaVersion(): string {
  const fromEnv = process.env['VIGIL_KAFKA_VERSION'];
  if (fromEnv) return fromEnv;
  const pom = readFileSync(join(repoRoot(), 'test', 'kafka', 'pom.xml'), 'utf8');
  const pinned = /<kafka\.version>([^<]+)<\/kafka\.version>/.exec(pom)?.[1];
  if (!pinned) throw new Error('kafka-broker: no <kafka.version> in test/kafka/pom.xml');
  return pinned;
}

/** The prepared jars of `version` and their logging backend, from the marker prepare-kafka.mjs writes last. */
function preparedLibs(version: string): { libs: string; logging: 'log4j2' | 'reload4j' } {
  const libs = join(repoRoot(), '.kafka', `libs-${version}`);
  const marker = join(libs, '.complete');
  if (!existsSync(marker)) {
    throw new KafkaBrokerError(
      'KAFKA_TEST_NOT_PREPARED',
      `Kafka ${version} jars not found in ${libs}: run \`node scripts/prepare-kafka.mjs\` (needs java and mvn)`,
    );
  }
  const { logging } = JSON.parse(readFileSync(marker, 'utf8')) as { logging: 'log4j2' | 'reload4j' };
  return { libs, logging };
}

/**
 * Java classpath of the prepared broker jars (`<repo>/.kafka/libs-<version>/*`), e.g. to run Kafka's
 * own Java code in a test.
 * @throws KafkaBrokerError `KAFKA_TEST_NOT_PREPARED` if prepare-kafka.mjs has not fetched `version`
 */
export function kafkaClasspath(version: string = kafkaVersion()): string {
  return join(preparedLibs(version).libs, '*');
}

/** JVM flags and classpath for a broker (or its tools) of `version` writing under `dataDir`. */
function javaBase(version: string, dataDir: string): string[] {
  const root = repoRoot();
  const { libs, logging } = preparedLibs(version);
  const logConfig =
    logging === 'log4j2'
      ? `-Dlog4j2.configurationFile=${join(root, 'test', 'kafka', 'log4j2.properties')}`
      : `-Dlog4j.configuration=file:${join(root, 'test', 'kafka', 'log4j.properties')}`;
  return [
    '-Xmx512m',
    '-XX:+UseG1GC',
    '-XX:MaxGCPauseMillis=20',
    '-Djava.awt.headless=true',
    logConfig,
    `-Dkafka.logs.dir=${join(dataDir, 'logs')}`,
    '-cp',
    join(libs, '*'),
  ];
}

/** Two distinct free loopback ports (both held open until both are known, then released). */
async function freePorts(): Promise<[number, number]> {
  const listen = () =>
    new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    });
  const servers = [await listen(), await listen()];
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return [ports[0]!, ports[1]!];
}

/** server.properties for a loopback single-node KRaft broker (one `key=value` per line, no trailing comments). */
function serverProperties(
  version: string,
  dataDir: string,
  port: number,
  controllerPort: number,
  extra: Readonly<Record<string, string>>,
): string {
  const props: Record<string, string> = {
    'process.roles': 'broker,controller',
    'node.id': '1',
    // Static quorum: the voter set lives in config, not in the formatted log (works on 3.9 and 4.x).
    'controller.quorum.voters': `1@127.0.0.1:${controllerPort}`,
    listeners: `PLAINTEXT://127.0.0.1:${port},CONTROLLER://127.0.0.1:${controllerPort}`,
    'advertised.listeners': `PLAINTEXT://127.0.0.1:${port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': join(dataDir, 'data'),
    'num.partitions': '1',
    'auto.create.topics.enable': 'false',
    // One broker: internal topics must have RF 1, or __consumer_offsets is never created.
    'offsets.topic.replication.factor': '1',
    'offsets.topic.num.partitions': '1',
    'transaction.state.log.replication.factor': '1',
    'transaction.state.log.min.isr': '1',
    'transaction.state.log.num.partitions': '1',
    // Default 3000 ms before a new group's first rebalance completes.
    'group.initial.rebalance.delay.ms': '0',
    // After a kill -9 the controller refuses the restarted broker's registration
    // (DUPLICATE_BROKER_REGISTRATION) until the old session expires: default 9000 ms, which made
    // restart-after-kill9 take ~12 s; with 3000 ms it takes ~5 s.
    'broker.session.timeout.ms': '3000',
    'broker.heartbeat.interval.ms': '500',
    ...(Number(version.split('.')[0]) >= 4
      ? {
          'share.coordinator.state.topic.replication.factor': '1',
          'share.coordinator.state.topic.min.isr': '1',
        }
      : {}),
    ...extra,
  };
  return Object.entries(props)
    .map(([k, v]) => `${k}=${v}\n`)
    .join('');
}

/**
 * A Kafka Uuid: 16 random bytes in unpadded base64url. Like Kafka's `Uuid.randomUuid()`, never one
 * starting with '-', which kafka-storage's argument parser takes for an option (1 draw in 64):
 * then the first 6 bits are replaced, which leaves a valid random id.
 */
function randomClusterId(): string {
  const id = randomBytes(16).toString('base64url');
  return id.startsWith('-') ? `A${id.slice(1)}` : id;
}

/** Runs a short-lived java tool, bounded by `timeoutMs`; rejects with its output on failure. */
function runJava(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('java', args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stdout}${stderr}`, { cause: err }));
      else resolve(stdout);
    });
  });
}

/** The last lines of `path` from byte `offset` on (the current run's part of the log). */
async function logTail(path: string, offset: number): Promise<string> {
  const text = await readFrom(path, offset);
  return text
    .split('\n')
    .slice(-LOG_TAIL_LINES - 1)
    .join('\n');
}

async function readFrom(path: string, offset: number): Promise<string> {
  const file = await open(path, 'r');
  try {
    const { size } = await file.stat();
    const buf = Buffer.alloc(Math.max(0, size - offset));
    await file.read(buf, 0, buf.length, offset);
    return buf.toString('utf8');
  } finally {
    await file.close();
  }
}

/** One broker JVM plus its watchdog. */
interface Proc {
  /** -1 if the spawn failed (then `exitCode` says why). */
  readonly pid: number;
  readonly watchdogPid: number | undefined;
  /** Resolves once the JVM has exited (or failed to spawn). */
  readonly exited: Promise<void>;
  /** Exit code or signal once exited; undefined while running. */
  readonly exitCode: number | string | undefined;
}

/** Brokers started by this process and not yet stopped; SIGKILLed by the 'exit' hook. */
const live = new Set<{ proc: Proc | undefined; dataDir: string }>();
let exitHookInstalled = false;

function killQuietly(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined || pid <= 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone (ESRCH): nothing to stop.
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const b of live) {
      killQuietly(b.proc?.watchdogPid, 'SIGKILL');
      if (b.proc?.exitCode === undefined) killQuietly(b.proc?.pid, 'SIGKILL');
      rmSync(b.dataDir, { recursive: true, force: true });
    }
  });
}

/**
 * The watchdog: `sh` blocked reading a pipe whose write end only this process holds. EOF means this
 * process is gone (however it died): SIGKILL the broker ($1) and delete its data dir ($2).
 */
const WATCHDOG = 'while read -r _; do :; done; kill -9 "$1" 2>/dev/null; rm -rf "$2"';

/** Spawns `java … kafka.Kafka` with output appended to `<dataDir>/broker.log`, plus its watchdog. */
function spawnBroker(javaArgs: string[], dataDir: string): Proc {
  const fd = openSync(join(dataDir, 'broker.log'), 'a');
  let child: ChildProcess;
  try {
    child = spawn('java', javaArgs, { stdio: ['ignore', fd, fd] });
  } finally {
    closeSync(fd);
  }
  let exitCode: number | string | undefined;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? signal ?? 'unknown';
      resolve();
    });
    child.once('error', (err) => {
      exitCode ??= `spawn failed: ${err.message}`;
      resolve();
    });
  });
  const pid = child.pid ?? -1;
  const watchdog =
    pid > 0
      ? spawn('sh', ['-c', WATCHDOG, 'kafka-watchdog', `${pid}`, dataDir], {
          stdio: ['pipe', 'ignore', 'ignore'],
        })
      : undefined;
  watchdog?.once('error', () => killQuietly(pid, 'SIGKILL'));
  watchdog?.unref();
  (watchdog?.stdin as Socket | null | undefined)?.unref();
  child.unref();
  return {
    pid,
    watchdogPid: watchdog?.pid,
    exited,
    get exitCode() {
      return exitCode;
    },
  };
}

/** Stops `proc` with `signal`, escalating to SIGKILL after `boundMs`. */
async function terminate(proc: Proc, signal: NodeJS.Signals, boundMs: number): Promise<void> {
  // Watchdog first, so it can never signal a recycled pid.
  killQuietly(proc.watchdogPid, 'SIGKILL');
  if (proc.exitCode !== undefined) return;
  killQuietly(proc.pid, signal);
  if (await settlesWithin(proc.exited, boundMs)) return;
  killQuietly(proc.pid, 'SIGKILL');
  if (!(await settlesWithin(proc.exited, 10_000))) {
    throw new KafkaBrokerError('KAFKA_TEST_STOP_FAILED', `broker pid ${proc.pid} survived SIGKILL for 10 s`);
  }
}

/** True if `promise` settles within `ms`. The timer is cleared either way, so it never holds the process open. */
async function settlesWithin(promise: Promise<void>, ms: number): Promise<boolean> {
  const timer = new AbortController();
  try {
    return await Promise.race([promise.then(() => true), sleep(ms, false, { signal: timer.signal })]);
  } finally {
    timer.abort();
  }
}

/** kafkajs client for the harness's own admin calls: silent, no retries (our loops are the retries). */
function adminClient(brokers: string[]) {
  return new Kafka({
    clientId: 'vigil-test-harness',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    requestTimeout: 10_000,
    retry: { retries: 0 },
  }).admin();
}

/**
 * Starts a fresh single-node KRaft broker on free loopback ports and resolves once it serves
 * requests.
 * @throws KafkaBrokerError `KAFKA_TEST_NOT_PREPARED` (jars not fetched), `KAFKA_TEST_FORMAT_FAILED`,
 *   `KAFKA_TEST_START_FAILED` (exited or not ready within `readyTimeoutMs`; message holds the log tail)
 */
export async function startKafkaBroker(opts: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? 60_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 15_000;
  const version = kafkaVersion();
  const dataDir = await mkdtemp(join(tmpdir(), 'vigil-kafka-'));
  const entry: { proc: Proc | undefined; dataDir: string } = { proc: undefined, dataDir };
  installExitHook();
  live.add(entry);
  try {
    const base = javaBase(version, dataDir);
    const [port, controllerPort] = await freePorts();
    const brokers = [`127.0.0.1:${port}`];
    const propsPath = join(dataDir, 'server.properties');
    const logPath = join(dataDir, 'broker.log');
    await writeFile(
      propsPath,
      serverProperties(version, dataDir, port, controllerPort, opts.properties ?? {}),
    );
    const clusterId = randomClusterId();
    await runJava(
      [...base, 'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', propsPath],
      60_000,
    ).catch((err: unknown) => {
      const detail = err instanceof Error ? err.message : String(err);
      throw new KafkaBrokerError('KAFKA_TEST_FORMAT_FAILED', `kafka-storage format failed: ${detail}`, {
        cause: err,
      });
    });

    const launch = async (): Promise<void> => {
      // On restart the log already holds the previous run's lines: only look at what follows.
      const logStart = existsSync(logPath) ? (await stat(logPath)).size : 0;
      const proc = spawnBroker([...base, 'kafka.Kafka', propsPath], dataDir);
      entry.proc = proc;
      const deadline = Date.now() + readyTimeoutMs;
      let started = false;
      let lastError: unknown;
      for (;;) {
        if (proc.exitCode !== undefined || Date.now() > deadline) {
          const why =
            proc.exitCode !== undefined
              ? `exited (${proc.exitCode})`
              : `not ready after ${readyTimeoutMs} ms (${started ? 'describeCluster failing' : `no "${STARTED_LINE}"`})`;
          await terminate(proc, 'SIGKILL', 10_000);
          throw new KafkaBrokerError(
            'KAFKA_TEST_START_FAILED',
            `Kafka ${version} broker pid ${proc.pid} ${why}; log ${logPath} ends with:\n${await logTail(logPath, logStart)}`,
            { cause: lastError },
          );
        }
        started ||= (await readFrom(logPath, logStart)).includes(STARTED_LINE);
        if (started) {
          const admin = adminClient(brokers);
          try {
            await admin.connect();
            const cluster = await admin.describeCluster();
            if (cluster.clusterId === clusterId && cluster.brokers.length === 1) return;
            lastError = new Error(`describeCluster answered ${JSON.stringify(cluster)}`);
          } catch (err) {
            lastError = err;
          } finally {
            await admin.disconnect();
          }
        }
        await Promise.race([proc.exited, sleep(100)]);
      }
    };
    await launch();

    let stopped = false;
    const current = (): Proc => entry.proc!;
    return {
      version,
      brokers,
      get pid() {
        return current().pid;
      },
      dataDir,
      async stop() {
        if (stopped) return;
        stopped = true;
        await terminate(current(), 'SIGTERM', stopTimeoutMs);
        live.delete(entry);
        await rm(dataDir, { recursive: true, force: true });
      },
      async kill9() {
        await terminate(current(), 'SIGKILL', 10_000);
      },
      async restart() {
        if (stopped) throw new Error('kafka-broker: restart() after stop(): the data dir is gone');
        await terminate(current(), 'SIGTERM', stopTimeoutMs);
        await launch();
      },
      async createTopic(name, partitions, config = {}) {
        const admin = adminClient(brokers);
        try {
          await admin.connect();
          const created = await admin.createTopics({
            topics: [
              {
                topic: name,
                numPartitions: partitions,
                replicationFactor: 1,
                configEntries: Object.entries(config).map(([n, value]) => ({ name: n, value })),
              },
            ],
            waitForLeaders: true,
            timeout: 30_000,
          });
          if (!created) throw new KafkaBrokerError('KAFKA_TEST_TOPIC_EXISTS', `topic ${name} already exists`);
        } finally {
          await admin.disconnect();
        }
      },
    };
  } catch (err) {
    if (entry.proc) await terminate(entry.proc, 'SIGKILL', 10_000);
    live.delete(entry);
    await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}
