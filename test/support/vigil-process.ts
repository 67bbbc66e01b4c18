/**
 * Runs Vigil as a real child process (`node bin/vigil.js run --config <file>`) on a fresh state
 * directory and an OS-chosen port, for end-to-end and fault tests and benchmarks. Stopped by its
 * own pid: SIGTERM (graceful) or SIGKILL (crash). Every wait is bounded.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const BIN = join(REPO_ROOT, 'bin', 'vigil.js');
/** The node flags `npm start` and bin/vigil.js's shebang use (see bin/vigil.js). */
export const VIGIL_NODE_FLAGS = ['--max-semi-space-size=32'];

export interface VigilProcess {
  readonly url: string;
  readonly pid: number;
  readonly configFile: string;
  readonly stateDir: string;
  /** Everything the process wrote to stdout/stderr (JSON log lines and CLI messages). */
  output(): string;
  /** SIGTERM and wait for exit (graceful: drain, checkpoint). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL and wait for exit (no shutdown work at all). */
  kill9(): Promise<void>;
}

export interface StartOptions {
  /** YAML config; `server.port: 0` and `state_dir` are filled in when absent. */
  readonly configYaml: string;
  /** Reuse a state directory (restart after a crash). */
  readonly stateDir?: string;
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
  readonly nodeArgs?: readonly string[];
}

/** Config files written beside state dirs; removed when the test process exits (restarts reuse them). */
const configFiles = new Set<string>();
process.once('exit', () => {
  for (const f of configFiles) rmSync(f, { force: true });
});

/** Writes the config next to a fresh (or given) state dir and starts Vigil; resolves when it listens. */
export async function startVigilProcess(opts: StartOptions): Promise<VigilProcess> {
  const stateDir = opts.stateDir ?? mkdtempSync(join(tmpdir(), 'vigil-state-'));
  const configFile = join(stateDir, '..', `${stateDir.split('/').pop()}.yaml`);
  let yaml = opts.configYaml;
  if (!/^state_dir:/m.test(yaml)) yaml = `state_dir: ${JSON.stringify(stateDir)}\n${yaml}`;
  if (!/^server:/m.test(yaml)) yaml = `server:\n  port: 0\n${yaml}`;
  writeFileSync(configFile, yaml);
  configFiles.add(configFile);
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...VIGIL_NODE_FLAGS,
      ...(opts.nodeArgs ?? []),
      '--enable-source-maps',
      BIN,
      'run',
      '--config',
      configFile,
    ],
    {
      cwd: REPO_ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const kill = (): void => {
    if (child.exitCode === null) child.kill('SIGKILL');
  };
  process.once('exit', kill);
  const url = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error(`vigil did not start within ${opts.timeoutMs ?? 60_000} ms:\n${out.slice(-4000)}`));
    }, opts.timeoutMs ?? 60_000);
    const onData = (): void => {
      const m = /vigil listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUrl(m[1] as string);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`vigil exited with ${code} before listening:\n${out.slice(-4000)}`));
    });
  });
  return {
    url,
    pid: child.pid!,
    configFile,
    stateDir,
    output: () => out,
    async stop(timeoutMs = 30_000) {
      if (child.exitCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const t = setTimeout(kill, timeoutMs);
      const code = await exited;
      clearTimeout(t);
      process.off('exit', kill);
      return code;
    },
    async kill9() {
      kill();
      await exited;
      process.off('exit', kill);
    },
  };
}

/** POSTs JSON and returns status, headers and parsed body. */
export async function postJson(
  url: string,
  body: unknown,
): Promise<{ status: number; headers: Headers; body: unknown }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Not JSON (e.g. a plain-text error): keep the text.
  }
  return { status: res.status, headers: res.headers, body: parsed };
}

/** Polls `check` every `everyMs` until it returns a value (not undefined) or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs: number,
  what: string,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
