/**
 * The `alerting:` config section, written the way Alertmanager writes its config (snake_case,
 * durations as strings). Schema only: semantic checks live in check.ts, runtime defaults in
 * {@link ALERTING_DEFAULTS} (route timings are inherited, so the schema gives them no default).
 *
 * Fields that default are `Optional` with a schema `default`: the config loader fills them in,
 * and the runtime applies the same default when a config is built in code.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DURATION_PATTERN } from '../common/index.js';

/** Schema keyword the config loader uses to redact secrets (src/app/config-loader.ts). */
const SECRET = 'x-secret';

const duration = (description: string, def?: string) =>
  Type.String({ pattern: DURATION_PATTERN, description, ...(def !== undefined ? { default: def } : {}) });
const secret = (description: string) => Type.String({ minLength: 1, description, [SECRET]: true });
const stringEnum = <T extends string>(values: readonly T[], description: string, def?: T) =>
  Type.Unsafe<T>({
    type: 'string',
    enum: [...values],
    description,
    ...(def !== undefined ? { default: def } : {}),
  });

/** Matchers: a list of `name<op>"value"` strings, or one `{a="b", c=~"d"}` string. */
export const MatchersSchema = Type.Union([Type.String(), Type.Array(Type.String())], {
  description: 'label matchers: a list of `name="value"` strings or one `{a="b", c=~"d"}` string',
});

/** Flapping detection (see lifecycle.ts). */
export const FlappingSchema = Type.Object(
  {
    /** @defaultValue true */
    enabled: Type.Optional(Type.Boolean({ default: true })),
    /** Firing/resolved transitions within `window` that make an alert flap. @defaultValue 4 */
    transitions: Type.Optional(Type.Integer({ minimum: 2, maximum: 64, default: 4 })),
    /** Event-time window the transitions are counted over; also the calm time that ends flapping. @defaultValue 1h */
    window: Type.Optional(duration('event-time window', '1h')),
  },
  { additionalProperties: false },
);

/** Per-route detection override, inherited by child routes field by field. */
export const DetectionOverrideSchema = Type.Object(
  {
    /** Score in [0,1] at or above which a sample is anomalous (overrides `detection.threshold`). */
    threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** A firing alert stays firing while the score is at or above this (hysteresis; ≤ threshold). */
    recovery_threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** Event time an anomaly must persist before the alert fires. */
    for: Type.Optional(duration('pending period')),
    /** Event time without anomalous samples before a firing alert resolves. */
    keep_firing_for: Type.Optional(duration('keep firing for')),
    /** Which side of the band counts: `above`, `below` or `both`. */
    direction: Type.Optional(stringEnum(['both', 'above', 'below'] as const, 'which deviations alert')),
    flapping: Type.Optional(FlappingSchema),
  },
  { additionalProperties: false },
);

const timeIntervalRefs = (what: string) =>
  Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: what }));

/** A route node (recursive). Unset fields are inherited from the parent, as in Alertmanager. */
export const RouteSchema = Type.Recursive(
  (This) =>
    Type.Object(
      {
        receiver: Type.Optional(Type.String({ minLength: 1 })),
        /** Labels to group by; `['...']` groups by all labels (no aggregation). */
        group_by: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
        /** @defaultValue 30s (root) */
        group_wait: Type.Optional(duration('wait before the first notification of a group')),
        /** @defaultValue 5m (root) */
        group_interval: Type.Optional(duration('wait before notifying about new alerts of a group')),
        /** @defaultValue 4h (root) */
        repeat_interval: Type.Optional(duration('wait before repeating a notification')),
        matchers: Type.Optional(MatchersSchema),
        /** Deprecated Alertmanager form: label → value. */
        match: Type.Optional(Type.Record(Type.String(), Type.String())),
        /** Deprecated Alertmanager form: label → regex. */
        match_re: Type.Optional(Type.Record(Type.String(), Type.String())),
        /** Keep matching later siblings after this route matched. @defaultValue false */
        continue: Type.Optional(Type.Boolean()),
        routes: Type.Optional(Type.Array(This)),
        mute_time_intervals: timeIntervalRefs('names of time intervals during which this route is muted'),
        active_time_intervals: timeIntervalRefs('names of time intervals outside which this route is muted'),
        detection: Type.Optional(DetectionOverrideSchema),
      },
      { additionalProperties: false },
    ),
  { $id: 'VigilAlertingRoute' },
);

const headers = Type.Optional(
  Type.Record(Type.String(), Type.String(), { description: 'extra headers', [SECRET]: true }),
);

/** Credentials for outgoing HTTP (a subset of Alertmanager's http_config). */
export const HttpConfigSchema = Type.Object(
  {
    authorization: Type.Optional(
      Type.Object(
        {
          /** @defaultValue Bearer */
          type: Type.Optional(Type.String({ minLength: 1, default: 'Bearer' })),
          credentials: secret('authorization credentials (or credentials_file)'),
        },
        { additionalProperties: false },
      ),
    ),
    basic_auth: Type.Optional(
      Type.Object(
        {
          username: Type.String({ minLength: 1 }),
          password: secret('basic auth password (or password_file)'),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

export const WebhookConfigSchema = Type.Object(
  {
    /** http(s) URL (or `url_file`). Secret: it often embeds a token. */
    url: secret('webhook URL'),
    /** @defaultValue true */
    send_resolved: Type.Optional(Type.Boolean({ default: true })),
    /** Alerts per notification; 0 = all. The rest are counted in `truncatedAlerts`. @defaultValue 0 */
    max_alerts: Type.Optional(Type.Integer({ minimum: 0, default: 0 })),
    /** Per-attempt timeout. @defaultValue 10s */
    timeout: Type.Optional(duration('per-attempt timeout', '10s')),
    /** HMAC-SHA256 key: signs each attempt in `X-Vigil-Signature: t=<unix>,v1=<hex>`. */
    secret: Type.Optional(secret('signing secret (or secret_file)')),
    headers,
    http_config: Type.Optional(HttpConfigSchema),
  },
  { additionalProperties: false },
);

export const EmailConfigSchema = Type.Object(
  {
    /** Recipients, comma separated. */
    to: Type.String({ minLength: 1 }),
    from: Type.String({ minLength: 1 }),
    /** `host:port` of the SMTP server. */
    smarthost: Type.String({ pattern: '^(\\[[^\\]]+\\]|[^\\s:\\[\\]]+):[0-9]{1,5}$' }),
    /** Name sent in EHLO. @defaultValue localhost */
    hello: Type.Optional(Type.String({ minLength: 1, default: 'localhost' })),
    auth_username: Type.Optional(Type.String({ minLength: 1 })),
    auth_password: Type.Optional(secret('SMTP password (or auth_password_file)')),
    /** Require STARTTLS. @defaultValue true */
    require_tls: Type.Optional(Type.Boolean({ default: true })),
    /** Implicit TLS (SMTPS, usually port 465). @defaultValue false */
    force_implicit_tls: Type.Optional(Type.Boolean({ default: false })),
    /** Skip certificate verification (test servers only). @defaultValue false */
    tls_insecure_skip_verify: Type.Optional(Type.Boolean({ default: false })),
    /** @defaultValue false (as Alertmanager's email) */
    send_resolved: Type.Optional(Type.Boolean({ default: false })),
    /** Extra headers; `Subject`, `To`, `From` override the defaults. */
    headers,
    /** Per-attempt timeout (connect, greeting and each command). @defaultValue 30s */
    timeout: Type.Optional(duration('per-attempt timeout', '30s')),
    /** Attach a PNG chart of each alert's recent values and band. @defaultValue true */
    chart: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);

export const AlertmanagerConfigSchema = Type.Object(
  {
    /** Base URLs of the Alertmanagers (each one is sent every alert, never load balanced). */
    urls: Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }),
    /** @defaultValue 10s */
    timeout: Type.Optional(duration('per-attempt timeout', '10s')),
    /** Send resolved alerts (with their endsAt) so the Alertmanager resolves them. @defaultValue true */
    send_resolved: Type.Optional(Type.Boolean({ default: true })),
    headers,
    http_config: Type.Optional(HttpConfigSchema),
  },
  { additionalProperties: false },
);

export const LogConfigSchema = Type.Object(
  {
    /** @defaultValue warn */
    level: Type.Optional(stringEnum(['info', 'warn', 'error'] as const, 'pino level', 'warn')),
    /** @defaultValue true */
    send_resolved: Type.Optional(Type.Boolean({ default: true })),
  },
  { additionalProperties: false },
);

export const ReceiverSchema = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    webhook_configs: Type.Optional(Type.Array(WebhookConfigSchema)),
    email_configs: Type.Optional(Type.Array(EmailConfigSchema)),
    alertmanager_configs: Type.Optional(Type.Array(AlertmanagerConfigSchema)),
    log_configs: Type.Optional(Type.Array(LogConfigSchema)),
  },
  { additionalProperties: false },
);

export const InhibitRuleSchema = Type.Object(
  {
    name: Type.Optional(Type.String()),
    /** Alerts that inhibit (must be firing). Empty = every alert. */
    source_matchers: Type.Optional(MatchersSchema),
    /** Alerts that get inhibited. Empty = every alert. */
    target_matchers: Type.Optional(MatchersSchema),
    /** Labels whose values must be equal on source and target (missing = empty). */
    equal: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
  },
  { additionalProperties: false },
);

const rangeItem = Type.Union([Type.String({ minLength: 1 }), Type.Integer()]);

/** One Alertmanager time interval spec; every field set must match. */
export const TimeIntervalSpecSchema = Type.Object(
  {
    times: Type.Optional(
      Type.Array(
        Type.Object(
          {
            /** HH:MM, inclusive. */
            start_time: Type.String({ pattern: '^[0-9]{2}:[0-9]{2}$' }),
            /** HH:MM (up to 24:00), exclusive. */
            end_time: Type.String({ pattern: '^[0-9]{2}:[0-9]{2}$' }),
          },
          { additionalProperties: false },
        ),
      ),
    ),
    /** `monday`, `monday:friday`, … */
    weekdays: Type.Optional(Type.Array(Type.String({ minLength: 1 }))),
    /** `1`, `1:5`, `-1` (last day), `-7:-1` … */
    days_of_month: Type.Optional(Type.Array(rangeItem)),
    /** `january`, `1:3`, `december` … */
    months: Type.Optional(Type.Array(rangeItem)),
    /** `2025`, `2025:2027` */
    years: Type.Optional(Type.Array(rangeItem)),
    /** IANA time zone, e.g. `Europe/Berlin`. @defaultValue UTC */
    location: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const TimeIntervalSchema = Type.Object(
  { name: Type.String({ minLength: 1 }), time_intervals: Type.Array(TimeIntervalSpecSchema) },
  { additionalProperties: false },
);

/** A silence defined in YAML (read-only through the API). */
export const ConfigSilenceSchema = Type.Object(
  {
    /** Stable id; derived from the content when omitted. */
    id: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,64}$' })),
    matchers: MatchersSchema,
    /** RFC 3339; omitted = since ever. */
    starts_at: Type.Optional(Type.String({ minLength: 1 })),
    /** RFC 3339; omitted = forever (use with `time_intervals` for a recurring window). */
    ends_at: Type.Optional(Type.String({ minLength: 1 })),
    /** @defaultValue config */
    created_by: Type.Optional(Type.String({ default: 'config' })),
    /** @defaultValue "" */
    comment: Type.Optional(Type.String({ default: '' })),
    /** Recurring silence: active only inside one of these named time intervals. */
    time_intervals: timeIntervalRefs('names of time intervals during which the silence applies'),
  },
  { additionalProperties: false },
);

export const LifecycleConfigSchema = Type.Object(
  {
    /** @defaultValue 0s */
    for: Type.Optional(duration('pending period', '0s')),
    /** @defaultValue 5m */
    keep_firing_for: Type.Optional(duration('keep firing for', '5m')),
    /** Omitted = the detection threshold (no hysteresis). */
    recovery_threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1 })),
    /** @defaultValue `{ enabled: true, transitions: 4, window: 1h }` */
    flapping: Type.Optional(FlappingSchema),
  },
  { additionalProperties: false },
);

export const RetryConfigSchema = Type.Object(
  {
    /** First retry delay (then doubled, jittered, capped). @defaultValue 1s */
    initial_backoff: Type.Optional(duration('first retry delay', '1s')),
    /** @defaultValue 5m */
    max_backoff: Type.Optional(duration('largest retry delay', '5m')),
    /** Give a notification up (delivery log: failed, reason `expired`) after this; 0 = never. @defaultValue 24h */
    give_up_after: Type.Optional(duration('give up after', '24h')),
    /**
     * Concurrent sends per receiver integration (one per group at a time). 16: after an alert
     * storm of ~3,900 notifications, 4 took 3.1 s to drain and 32 left 77 queued (bench:throughput).
     * @defaultValue 16
     */
    max_in_flight: Type.Optional(Type.Integer({ minimum: 1, maximum: 64, default: 16 })),
  },
  { additionalProperties: false },
);

export const RetentionConfigSchema = Type.Object(
  {
    /** Alert history entries kept. @defaultValue 10000 */
    history_entries: Type.Optional(Type.Integer({ minimum: 10, default: 10_000 })),
    /** Finished notifications kept in the delivery log. @defaultValue 10000 */
    notifications: Type.Optional(Type.Integer({ minimum: 10, default: 10_000 })),
    /** How long expired silences and notification-log entries are kept. @defaultValue 120h */
    state: Type.Optional(duration('retention of expired silences and notification log', '120h')),
  },
  { additionalProperties: false },
);

/** The `alerting:` section. */
export const AlertingConfigSchema = Type.Object(
  {
    /** The routing tree. @defaultValue `{ receiver: default }` */
    route: Type.Optional({ ...RouteSchema, default: { receiver: 'default' } } as typeof RouteSchema),
    /** @defaultValue one receiver `default` that logs (log_configs: [{}]) */
    receivers: Type.Optional(
      Type.Array(ReceiverSchema, { default: [{ name: 'default', log_configs: [{ level: 'warn' }] }] }),
    ),
    inhibit_rules: Type.Optional(Type.Array(InhibitRuleSchema, { default: [] })),
    time_intervals: Type.Optional(Type.Array(TimeIntervalSchema, { default: [] })),
    silences: Type.Optional(Type.Array(ConfigSilenceSchema, { default: [] })),
    lifecycle: Type.Optional({ ...LifecycleConfigSchema, default: {} } as typeof LifecycleConfigSchema),
    retry: Type.Optional({ ...RetryConfigSchema, default: {} } as typeof RetryConfigSchema),
    retention: Type.Optional({ ...RetentionConfigSchema, default: {} } as typeof RetentionConfigSchema),
  },
  { additionalProperties: false, default: {} },
);

export type AlertingConfig = Static<typeof AlertingConfigSchema>;
export type RouteConfig = Static<typeof RouteSchema>;
export type ReceiverConfig = Static<typeof ReceiverSchema>;
export type WebhookConfig = Static<typeof WebhookConfigSchema>;
export type EmailConfig = Static<typeof EmailConfigSchema>;
export type AlertmanagerReceiverConfig = Static<typeof AlertmanagerConfigSchema>;
export type LogReceiverConfig = Static<typeof LogConfigSchema>;
export type HttpConfig = Static<typeof HttpConfigSchema>;
export type InhibitRuleConfig = Static<typeof InhibitRuleSchema>;
export type TimeIntervalConfig = Static<typeof TimeIntervalSchema>;
export type TimeIntervalSpecConfig = Static<typeof TimeIntervalSpecSchema>;
export type ConfigSilence = Static<typeof ConfigSilenceSchema>;
export type DetectionOverride = Static<typeof DetectionOverrideSchema>;
export type FlappingConfig = Static<typeof FlappingSchema>;

/** Runtime defaults (the same values as the schema defaults, for configs built in code). */
export const ALERTING_DEFAULTS = {
  groupWait: '30s',
  groupInterval: '5m',
  repeatInterval: '4h',
  for: '0s',
  keepFiringFor: '5m',
  flapping: { enabled: true, transitions: 4, window: '1h' },
  webhookTimeout: '10s',
  emailTimeout: '30s',
  alertmanagerTimeout: '10s',
  initialBackoff: '1s',
  maxBackoff: '5m',
  giveUpAfter: '24h',
  maxInFlight: 16,
  historyEntries: 10_000,
  notifications: 10_000,
  stateRetention: '120h',
} as const;
