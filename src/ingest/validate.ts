/**
 * The rules every protocol applies to a decoded sample, so that JSON, remote write, OTLP, Influx
 * and Kafka accept and refuse exactly the same things (README "Naming rules").
 *
 * - metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*` (Prometheus), at most `maxNameLength` characters.
 * - label name: `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved), at most
 *   `maxNameLength`; at most `maxLabelsPerSeries` labels; values are strings of at most
 *   `maxLabelValueLength` characters. Empty label values are dropped (as Prometheus does).
 * - value: a finite number (NaN and ±Infinity are refused).
 * - timestamp: epoch milliseconds in [2000-01-01, now + maxFutureSkewMs], or an RFC 3339 string.
 */
import { seriesKey } from '../common/index.js';
import type { RejectCode, Sample } from './types.js';

export interface SampleLimits {
  readonly maxLabelsPerSeries: number;
  readonly maxNameLength: number;
  readonly maxLabelValueLength: number;
  readonly maxFutureSkewMs: number;
}

/** 2000-01-01T00:00:00Z: earlier epoch-ms values are almost always seconds sent as ms. */
export const MIN_TIMESTAMP_MS = 946_684_800_000;

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/**
 * Label names repeat across samples (a handful per metric), so valid names are remembered in a
 * bounded set instead of running the regex for every sample.
 */
const knownLabelNames = new Set<string>();
const KNOWN_NAMES_MAX = 10_000;

function validLabelName(name: string, limits: SampleLimits): boolean {
  if (name.length > limits.maxNameLength) return false;
  if (knownLabelNames.has(name)) return true;
  if (!LABEL_NAME.test(name) || name.startsWith('__')) return false;
  if (knownLabelNames.size >= KNOWN_NAMES_MAX) knownLabelNames.clear();
  knownLabelNames.add(name);
  return true;
}

/** A refusal of one item: code plus a reason naming the field and what was wrong. */
export interface Refusal {
  readonly code: RejectCode;
  readonly reason: string;
}

export type Checked = { readonly ok: true; readonly sample: Sample } | ({ readonly ok: false } & Refusal);

const fail = (code: RejectCode, reason: string): Checked => ({ ok: false, code, reason });

/** Checks a metric name; returns a refusal or undefined. */
export function checkMetricName(metric: unknown, limits: SampleLimits): Refusal | undefined {
  if (typeof metric !== 'string')
    return { code: 'INVALID_SAMPLE', reason: `metric must be a string, got ${typeOf(metric)}` };
  if (metric.length === 0) return { code: 'INVALID_NAME', reason: 'metric must not be empty' };
  if (metric.length > limits.maxNameLength)
    return {
      code: 'LIMIT_EXCEEDED',
      reason: `metric name is ${metric.length} characters, limit ${limits.maxNameLength}`,
    };
  if (!METRIC_NAME.test(metric))
    return {
      code: 'INVALID_NAME',
      reason: `metric ${JSON.stringify(metric)} is not a valid name ([a-zA-Z_:][a-zA-Z0-9_:]*)`,
    };
  return undefined;
}

/**
 * Checks labels and returns them without empty values, or a refusal. `labels` may be undefined
 * (no labels).
 */
export function checkLabels(
  labels: unknown,
  limits: SampleLimits,
): { ok: true; labels: Record<string, string> } | ({ ok: false } & Refusal) {
  if (labels === undefined || labels === null) return { ok: true, labels: {} };
  if (typeof labels !== 'object' || Array.isArray(labels))
    return {
      ok: false,
      code: 'INVALID_SAMPLE',
      reason: `labels must be an object of strings, got ${typeOf(labels)}`,
    };
  const out: Record<string, string> = {};
  let count = 0;
  const obj = labels as Record<string, unknown>;
  for (const name in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, name)) continue;
    const value = obj[name];
    if (typeof value !== 'string')
      return {
        ok: false,
        code: 'INVALID_SAMPLE',
        reason: `label ${JSON.stringify(name)} must be a string, got ${typeOf(value)}`,
      };
    if (!validLabelName(name, limits)) {
      if (name.length > limits.maxNameLength)
        return {
          ok: false,
          code: 'LIMIT_EXCEEDED',
          reason: `label name is ${name.length} characters, limit ${limits.maxNameLength}`,
        };
      if (name.startsWith('__'))
        return {
          ok: false,
          code: 'INVALID_NAME',
          reason: `label name ${JSON.stringify(name)} is reserved (starts with __)`,
        };
      return {
        ok: false,
        code: 'INVALID_NAME',
        reason: `label name ${JSON.stringify(name)} is not valid ([a-zA-Z_][a-zA-Z0-9_]*)`,
      };
    }
    if (value.length > limits.maxLabelValueLength)
      return {
        ok: false,
        code: 'LIMIT_EXCEEDED',
        reason: `label ${JSON.stringify(name)} value is ${value.length} characters, limit ${limits.maxLabelValueLength}`,
      };
    if (value === '') continue;
    if (++count > limits.maxLabelsPerSeries)
      return { ok: false, code: 'LIMIT_EXCEEDED', reason: `more than ${limits.maxLabelsPerSeries} labels` };
    out[name] = value;
  }
  return { ok: true, labels: out };
}

/** Parses epoch ms (number) or RFC 3339 (string) and checks the range. */
export function checkTimestamp(
  ts: unknown,
  nowMs: number,
  limits: SampleLimits,
): { ok: true; ts: number } | ({ ok: false } & Refusal) {
  let ms: number;
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts))
      return { ok: false, code: 'INVALID_SAMPLE', reason: 'ts must be a finite number' };
    ms = ts;
  } else if (typeof ts === 'string') {
    if (!RFC3339.test(ts))
      return {
        ok: false,
        code: 'INVALID_SAMPLE',
        reason: `ts ${JSON.stringify(ts)} is neither epoch milliseconds nor RFC 3339`,
      };
    ms = Date.parse(ts);
    if (!Number.isFinite(ms))
      return { ok: false, code: 'INVALID_SAMPLE', reason: `ts ${JSON.stringify(ts)} is not a valid date` };
  } else {
    return {
      ok: false,
      code: 'INVALID_SAMPLE',
      reason: `ts must be epoch milliseconds or an RFC 3339 string, got ${typeOf(ts)}`,
    };
  }
  if (ms < MIN_TIMESTAMP_MS)
    return {
      ok: false,
      code: 'TIMESTAMP_OUT_OF_RANGE',
      reason: `ts ${ms} is before 2000-01-01 (epoch milliseconds expected; seconds?)`,
    };
  if (ms > nowMs + limits.maxFutureSkewMs)
    return {
      ok: false,
      code: 'TIMESTAMP_OUT_OF_RANGE',
      reason: `ts ${new Date(ms).toISOString()} is more than ${Math.round(limits.maxFutureSkewMs / 1000)}s ahead of the server clock`,
    };
  return { ok: true, ts: Math.round(ms) };
}

/** Checks a value: a finite number. */
export function checkValue(value: unknown): Refusal | undefined {
  if (typeof value !== 'number')
    return { code: 'INVALID_SAMPLE', reason: `value must be a number, got ${typeOf(value)}` };
  if (!Number.isFinite(value))
    return { code: 'INVALID_SAMPLE', reason: `value must be finite, got ${value}` };
  return undefined;
}

/** Builds a checked sample from already-typed parts (protocol decoders call this). */
export function makeSample(
  metric: string,
  labels: unknown,
  ts: unknown,
  value: unknown,
  nowMs: number,
  limits: SampleLimits,
): Checked {
  const m = checkMetricName(metric, limits);
  if (m) return fail(m.code, m.reason);
  const l = checkLabels(labels, limits);
  if (!l.ok) return fail(l.code, l.reason);
  const t = checkTimestamp(ts, nowMs, limits);
  if (!t.ok) return fail(t.code, t.reason);
  const v = checkValue(value);
  if (v) return fail(v.code, v.reason);
  return {
    ok: true,
    sample: { metric, labels: l.labels, key: seriesKey(metric, l.labels), ts: t.ts, value: value as number },
  };
}

/** A short type name for messages: "null", "array", "string", ... */
export function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}
