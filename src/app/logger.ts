/**
 * The root logger. Redaction is on in every environment (secrets never reach logs); modules get
 * `logger.child({ module })`. Log fields come from a fixed set: module, metricKey, keyGroup,
 * routeId, receiver, attempt, err.
 */
import { pino, type Logger, type LevelWithSilent } from 'pino';

export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["proxy-authorization"]',
  'req.headers.cookie',
  // Outbound requests or responses logged with their headers.
  'headers.authorization',
  '*.headers.authorization',
  // API token hashes (server.auth.tokens[*].hash) wherever a config or a token entry is logged.
  '*.hash',
  'config.server.auth.tokens[*].hash',
  '*.password',
  '*.auth_password',
  '*.secret',
  '*.token',
  '*.api_key',
  'config.alerting.receivers[*].webhook_configs[*].url',
];

export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, redact: { paths: REDACT_PATHS, censor: '<secret>' }, base: { service: 'vigil' } },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

export type { Logger };
