/**
 * Vigil's configuration: the root schema assembled from each module's section, loaded with
 * positions by config-loader.ts. Everything is validated before any socket opens; the result is
 * deep-frozen. `vigil validate FILE` prints every problem as `file:line:col CODE message`.
 */
import { Type, type Static } from '@sinclair/typebox';
import { IngestConfigSchema, checkKafkaIngestConfig } from '../ingest/index.js';
import { RuntimeConfigSchema } from '../keyed-runtime/index.js';
import { AlertingConfigSchema, checkAlertingConfig } from '../alerts/index.js';
import { DetectionConfigSchema } from '../operators/anomaly/index.js';
import { loadConfigFile, loadConfigText, redactSecrets, type SemanticIssue } from './config-loader.js';
import {
  AuthConfigSchema,
  CorsConfigSchema,
  LimitsConfigSchema,
  SecurityConfigSchema,
  TlsConfigSchema,
  checkSecurityConfig,
} from './auth/config.js';
import { allowEntryProblem } from './auth/outbound.js';

/** `server`: the HTTP server every endpoint is served on. */
export const ServerConfigSchema = Type.Object(
  {
    /** Address to listen on. @defaultValue "127.0.0.1" (loopback; use 0.0.0.0 to accept remote clients) */
    host: Type.String({ default: '127.0.0.1' }),
    /** TCP port. @defaultValue 9464 */
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9464 }),
    /** Largest request body, bytes (after decompression for compressed protocols). @defaultValue 16777216 (16 MiB) */
    body_limit_bytes: Type.Integer({ minimum: 1024, default: 16 * 1024 * 1024 }),
    /** Base URL of this Vigil as users reach it (links in notifications). @defaultValue "http://<host>:<port>" */
    external_url: Type.Optional(Type.String()),
    /** Serve HTTPS (absent: plain HTTP; keep it on loopback or behind a TLS proxy). */
    tls: Type.Optional(TlsConfigSchema),
    /** Cross-origin browser access. @defaultValue closed (no CORS headers) */
    cors: CorsConfigSchema,
    /** API tokens, scopes and tenants. @defaultValue no tokens: auth off */
    auth: AuthConfigSchema,
  },
  { additionalProperties: false, default: {} },
);

export const LogConfigSchema = Type.Object(
  {
    /** pino level. @defaultValue "info" */
    level: Type.Union(
      (['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const).map((l) => Type.Literal(l)),
      { default: 'info' },
    ),
  },
  { additionalProperties: false, default: {} },
);

export const VigilConfigSchema = Type.Object(
  {
    server: ServerConfigSchema,
    /** Directory for the write-ahead log, checkpoints and alert state (created if missing). @defaultValue "./state" */
    state_dir: Type.String({ default: './state', minLength: 1 }),
    log: LogConfigSchema,
    ingest: IngestConfigSchema,
    runtime: RuntimeConfigSchema,
    detection: DetectionConfigSchema,
    alerting: AlertingConfigSchema,
    /** Series per tenant and requests per token. */
    limits: LimitsConfigSchema,
    /** Outbound requests (receiver allowlist). */
    security: SecurityConfigSchema,
  },
  { additionalProperties: false },
);

export type VigilConfig = Static<typeof VigilConfigSchema>;

function check(config: VigilConfig): SemanticIssue[] {
  const issues: SemanticIssue[] = checkAlertingConfig(config.alerting).map((i) => ({
    ...i,
    path: ['alerting', ...i.path],
  }));
  if (config.ingest.kafka)
    for (const i of checkKafkaIngestConfig(config.ingest.kafka))
      issues.push({ ...i, path: ['ingest', 'kafka', ...i.path] });
  issues.push(...checkSecurityConfig(config, allowEntryProblem));
  return issues;
}

/** Loads and validates a config file. Throws ConfigError listing every problem. */
export function loadVigilConfig(
  file: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): VigilConfig {
  return loadConfigFile(VigilConfigSchema, file, env, check);
}

/** Loads config text (tests, embedded defaults). */
export function loadVigilConfigText(
  text: string,
  opts: { file?: string; baseDir?: string; env?: Readonly<Record<string, string | undefined>> } = {},
): VigilConfig {
  return loadConfigText(VigilConfigSchema, {
    file: opts.file ?? '<config>',
    text,
    baseDir: opts.baseDir ?? process.cwd(),
    env: opts.env ?? process.env,
    check,
  });
}

/** The config with every secret replaced by "<secret>" (logs, console). */
export function redactConfig(config: VigilConfig): unknown {
  return redactSecrets(VigilConfigSchema, config);
}
