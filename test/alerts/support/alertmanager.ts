/**
 * A real Prometheus Alertmanager for tests, built from the Go module proxy and run on 127.0.0.1.
 *
 * How it is obtained: `VIGIL_ALERTMANAGER_BIN` if set; otherwise
 * `GOBIN=node_modules/.cache/vigil-alertmanager/<version> go install
 * github.com/prometheus/alertmanager/cmd/alertmanager@<version>` once (about a minute on 2 cores
 * with a cold module cache, seconds afterwards; the binary is reused). v0.28.1 is pinned:
 * v0.34.x cannot be built with `go install` (its web UI is embedded from files the module zip
 * does not contain). Without a Go toolchain the caller skips the test.
 *
 * How it runs: `alertmanager --config.file=… --storage.path=… --web.listen-address=127.0.0.1:<port>
 * --cluster.listen-address=` (no gossip), ready when `GET /-/ready` answers 200; stopped by its pid
 * (SIGTERM, then SIGKILL after 5 s).
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ALERTMANAGER_VERSION = 'v0.28.1';

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env, timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** The Alertmanager binary, building it when needed; undefined when there is no Go toolchain. */
export function alertmanagerBinary(): Promise<string | undefined> {
  return goBinary('alertmanager', process.env['VIGIL_ALERTMANAGER_BIN']);
}

/** amtool (Alertmanager's CLI), built the same way. */
export function amtoolBinary(): Promise<string | undefined> {
  return goBinary('amtool', process.env['VIGIL_AMTOOL_BIN']);
}

async function goBinary(
  name: 'alertmanager' | 'amtool',
  fromEnv: string | undefined,
): Promise<string | undefined> {
  if (fromEnv) return fromEnv;
  const dir = join(process.cwd(), 'node_modules', '.cache', 'vigil-alertmanager', ALERTMANAGER_VERSION);
  const bin = join(dir, name);
  if (existsSync(bin)) return bin;
  try {
    await run('go', ['version'], process.env, 10_000);
  } catch {
    return undefined;
  }
  await mkdir(dir, { recursive: true });
  await run(
    'go',
    ['install', `github.com/prometheus/alertmanager/cmd/${name}@${ALERTMANAGER_VERSION}`],
    { ...process.env, GOBIN: dir, GOFLAGS: '-buildvcs=false' },
    300_000,
  );
  return bin;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

export interface RunningAlertmanager {
  readonly url: string;
  readonly pid: number;
  stop(): Promise<void>;
}

/** Starts an Alertmanager with a do-nothing route; ready when /-/ready answers. */
export async function startAlertmanager(bin: string): Promise<RunningAlertmanager> {
  const dir = await mkdtemp(join(tmpdir(), 'vigil-am-'));
  await writeFile(
    join(dir, 'am.yml'),
    'route:\n  receiver: blackhole\n  group_wait: 1s\nreceivers:\n  - name: blackhole\n',
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    bin,
    [
      `--config.file=${join(dir, 'am.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
  const url = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.pid !== undefined) {
      const exited = new Promise<void>((r) => child.once('exit', () => r()));
      process.kill(child.pid, 'SIGTERM');
      const t = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`alertmanager exited (${child.exitCode}): ${stderr}`);
    try {
      if ((await fetch(`${url}/-/ready`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`alertmanager not ready after 20 s: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid ?? -1, stop };
}
