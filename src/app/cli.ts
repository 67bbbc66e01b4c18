/**
 * The `vigil` command line. `main(argv)` returns the exit code; bin/vigil.js calls it.
 *
 *   vigil run [--config FILE]            start a node (default: the shipped config/vigil.yaml)
 *   vigil validate FILE                  check a config; exit 1 listing every problem
 *   vigil backtest --data DIR [--out DIR] [--report FILE.html] [--config FILE]
 *   vigil hash-token [--generate] [--name N] [--scopes S] [--tenant T]
 *   vigil --help | --version
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from './config-loader.js';
import { loadVigilConfig, type VigilConfig } from './config.js';

const PACKAGE_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** The shipped default config: HTTP ingest on 127.0.0.1:9464, ./state, alerts to the log. */
export const DEFAULT_CONFIG = `${PACKAGE_ROOT}config/vigil.yaml`;

const HELP = `vigil: time-series anomaly alerting

Usage:
  vigil run [--config FILE]     Start Vigil (default config: ${DEFAULT_CONFIG})
  vigil validate FILE           Check a config file; prints every problem as
                                file:line:col CODE message and exits 1
  vigil backtest --data DIR [--out DIR] [--report FILE.html] [--config FILE]
                                Run the detector over CSV files in NAB layout
                                (DIR/<category>/<file>.csv: timestamp,value); --out writes
                                OUT/<category>/<file>.csv with timestamp,value,anomaly_score;
                                --report writes a self-contained HTML report: a chart per
                                series and the notifications the configured routes would
                                have sent ("what would have paged me")
  vigil produce --file CSV [--config FILE] [--topic T] [--metric NAME] [--labels k=v,k2=v2]
                [--format json|json-batch] [--batch N] [--rate SAMPLES_PER_S]
                                Replay a CSV (NAB layout: timestamp,value) into the Kafka topic,
                                keyed and partitioned by the producer convention
  vigil hash-token [--generate] [--name N] [--scopes ingest,read,admin] [--tenant T]
                                Print the server.auth.tokens entry of an API token: its
                                sha256 hash, never the token. --generate makes a new random
                                token and prints it once; otherwise the token is read from
                                standard input (printf '%s' "$TOKEN" | vigil hash-token ...)
  vigil --help                  This help
  vigil --version               Print the version

Environment: \${NAME} in the config is replaced by the environment variable NAME;
a key written as <key>_file reads its value from that file.
Docs: README.md
`;

interface Parsed {
  readonly command: string | undefined;
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
}

function parse(argv: readonly string[]): Parsed {
  const flags = new Map<string, string | true>();
  const positional: string[] = [];
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
      else {
        const next = argv[i + 1];
        if (next !== undefined && !next.startsWith('-')) {
          flags.set(a.slice(2), next);
          i++;
        } else flags.set(a.slice(2), true);
      }
    } else if (a === '-h') flags.set('help', true);
    else if (command === undefined) command = a;
    else positional.push(a);
  }
  return { command, positional, flags };
}

function str(p: Parsed, name: string): string | undefined {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
}

/** Loads a config or prints its problems; undefined means "exit 1". */
function load(file: string): VigilConfig | undefined {
  try {
    return loadVigilConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(
        `${err.message}\n${err.issues.length} problem${err.issues.length === 1 ? '' : 's'} in ${file}\n`,
      );
      return undefined;
    }
    throw err;
  }
}

export async function main(argv: readonly string[]): Promise<number> {
  const p = parse(argv);
  if (p.flags.has('version')) {
    const pkg = JSON.parse(readFileSync(`${PACKAGE_ROOT}package.json`, 'utf8')) as { version: string };
    process.stdout.write(`${pkg.version}\n`);
    return 0;
  }
  if (p.flags.has('help') || p.command === undefined || p.command === 'help') {
    process.stdout.write(HELP);
    return p.command === undefined && !p.flags.has('help') ? 2 : 0;
  }
  switch (p.command) {
    case 'validate': {
      const file = p.positional[0] ?? str(p, 'config');
      if (!file) {
        process.stderr.write('usage: vigil validate FILE\n');
        return 2;
      }
      if (!load(file)) return 1;
      process.stdout.write(`${file}: ok\n`);
      return 0;
    }
    case 'run': {
      const file = str(p, 'config') ?? DEFAULT_CONFIG;
      const config = load(file);
      if (!config) return 1;
      const { startVigil } = await import('./main.js');
      const { createProgressBar } = await import('./progress.js');
      const bar = createProgressBar({ title: 'recovering' });
      const node = await startVigil(config, {
        onProgress: (phase, done, total) => bar.update(done, total, phase),
      });
      bar.finish();
      process.stderr.write(`vigil listening on ${node.url} (config ${file}, state ${config.state_dir})\n`);
      await new Promise<void>((resolve) => {
        const stop = (signal: string): void => {
          process.stderr.write(`vigil: ${signal}, shutting down\n`);
          node.close().then(resolve, (err: unknown) => {
            process.stderr.write(`vigil: error while shutting down: ${String(err)}\n`);
            resolve();
          });
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      return 0;
    }
    case 'hash-token': {
      const { hashTokenCommand } = await import('./auth/hash-token-cli.js');
      const name = str(p, 'name');
      const scopes = str(p, 'scopes');
      const tenant = str(p, 'tenant');
      return hashTokenCommand(
        {
          generate: p.flags.has('generate'),
          ...(name !== undefined ? { name } : {}),
          ...(scopes !== undefined ? { scopes } : {}),
          ...(tenant !== undefined ? { tenant } : {}),
        },
        {
          readStdin: async () => {
            if (process.stdin.isTTY) process.stderr.write('token (one line): ');
            let text = '';
            for await (const chunk of process.stdin) {
              text += (chunk as Buffer).toString('utf8');
              if (text.includes('\n')) break;
            }
            return text;
          },
          out: (t) => void process.stdout.write(t),
          err: (t) => void process.stderr.write(t),
        },
      );
    }
    case 'backtest': {
      const data = str(p, 'data');
      const out = str(p, 'out');
      const report = str(p, 'report');
      if (!data || (!out && !report)) {
        process.stderr.write(
          'usage: vigil backtest --data DIR [--out DIR] [--report FILE.html] [--config FILE]\n',
        );
        return 2;
      }
      const configFile = str(p, 'config') ?? DEFAULT_CONFIG;
      const config = load(configFile);
      if (!config) return 1;
      const { createProgressBar } = await import('./progress.js');
      if (out) {
        const { runBacktest } = await import('./backtest.js');
        const bar = createProgressBar({ title: 'backtest' });
        const summary = await runBacktest({
          dataDir: data,
          outDir: out,
          detection: config.detection,
          onProgress: (done, total, file) => bar.update(done, total, file),
        });
        bar.finish();
        process.stdout.write(`${JSON.stringify(summary)}\n`);
      }
      if (report) {
        const { writeBacktestReport } = await import('./report.js');
        const bar = createProgressBar({ title: 'report' });
        const r = await writeBacktestReport({
          dataDir: data,
          outFile: report,
          detection: config.detection,
          alerting: config.alerting,
          configName: configFile,
          onProgress: (done, total, file) => bar.update(done, total, file),
        });
        bar.finish();
        process.stdout.write(
          `${JSON.stringify({ report, files: r.files, rows: r.rows, anomalies: r.anomalies, alertEvents: r.alertEvents, notifications: r.notifications, suppressed: r.suppressed, bytes: r.bytes })}\n`,
        );
      }
      return 0;
    }
    case 'produce': {
      const file = str(p, 'file');
      if (!file) {
        process.stderr.write(
          'usage: vigil produce --file CSV [--config FILE] [--topic T] [--metric NAME] [--labels k=v,...]\n',
        );
        return 2;
      }
      const config = load(str(p, 'config') ?? DEFAULT_CONFIG);
      if (!config) return 1;
      if (!config.ingest.kafka) {
        process.stderr.write('vigil produce: the config has no ingest.kafka section (brokers, topics)\n');
        return 2;
      }
      const labels = Object.fromEntries(
        (str(p, 'labels') ?? '')
          .split(',')
          .filter(Boolean)
          .map((kv) => {
            const i = kv.indexOf('=');
            return [kv.slice(0, i), kv.slice(i + 1)];
          }),
      );
      const format = str(p, 'format');
      if (format !== undefined && format !== 'json' && format !== 'json-batch') {
        process.stderr.write('vigil produce: --format must be json or json-batch\n');
        return 2;
      }
      const topic = str(p, 'topic');
      const metric = str(p, 'metric');
      const batch = str(p, 'batch');
      const rate = str(p, 'rate');
      const { runProduce } = await import('./produce.js');
      const { sampleLimits } = await import('./http.js');
      const { createLogger } = await import('./logger.js');
      const summary = await runProduce({
        kafka: config.ingest.kafka,
        file,
        labels,
        limits: sampleLimits(config),
        logger: createLogger('warn'),
        ...(topic ? { topic } : {}),
        ...(metric ? { metric } : {}),
        ...(format ? { format } : {}),
        ...(batch ? { batchSize: Number(batch) } : {}),
        ...(rate ? { rate: Number(rate) } : {}),
      });
      process.stdout.write(`${JSON.stringify(summary)}\n`);
      return summary.skipped > 0 && summary.samples === 0 ? 1 : 0;
    }
    default:
      process.stderr.write(`vigil: unknown command "${p.command}"\n\n${HELP}`);
      return 2;
  }
}
