/**
 * Semantic checks of a schema-valid `alerting` section (pure). Every problem is reported, each
 * with a path relative to the section (the config loader prefixes `alerting` and turns paths
 * into `file:line:col`). Covers what Alertmanager's config.go rejects (unknown receivers and
 * time intervals, root route rules, zero intervals, `...` mixed with labels, bad regexes) and
 * what is ours (detection overrides, silences, retry settings).
 */
import { parseDurationMs } from '../common/index.js';
import type { AlertingConfig, DetectionOverride, RouteConfig } from './config.js';
import { compileMatcher, parseMatcherGroup, type MatcherSpec } from './matchers.js';
import { configSilenceId, parseTimestamp } from './silences.js';
import { compileTimeIntervalSpec } from './time-intervals.js';

export type AlertingIssueCode =
  'UNKNOWN_RECEIVER' | 'UNKNOWN_REFERENCE' | 'DUPLICATE_NAME' | 'INVALID_VALUE' | 'CONFLICT';

/** One problem; `path` is relative to the `alerting` section. */
export interface AlertingConfigIssue {
  readonly path: (string | number)[];
  readonly code: AlertingIssueCode;
  readonly message: string;
}

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const listOf = (names: readonly string[]): string => (names.length ? names.join(', ') : '(none)');

/** 0 for a zero duration; undefined when not a duration (the schema reports that). */
const ms = (v: unknown): number | undefined => (typeof v === 'string' ? parseDurationMs(v) : undefined);

/**
 * Runs one part of the checks. The loader also runs the checks on data the schema rejected; a
 * part that trips over a wrong shape is skipped (the schema already reported the shape) so that
 * the other parts still report their problems.
 */
function part(fn: () => void): void {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof TypeError || err instanceof RangeError)) throw err;
  }
}

/**
 * Checks an `alerting` section. Returns every problem found (empty = valid). Meant for
 * schema-valid data; on other data it reports what it can.
 */
export function checkAlertingConfig(cfg: AlertingConfig): AlertingConfigIssue[] {
  const issues: AlertingConfigIssue[] = [];
  const add = (path: (string | number)[], code: AlertingIssueCode, message: string): void => {
    issues.push({ path, code, message });
  };

  // Receivers.
  const receivers = Array.isArray(cfg.receivers) ? cfg.receivers : [];
  const receiverNames = receivers.map((r) => nameOf(r));
  duplicates(receiverNames, (i, name) =>
    add(['receivers', i, 'name'], 'DUPLICATE_NAME', `receiver "${name}" is defined more than once`),
  );
  receivers.forEach((r, i) =>
    part(() => {
      (r.webhook_configs ?? []).forEach((w, j) => {
        const p: (string | number)[] = ['receivers', i, 'webhook_configs', j];
        checkUrl(w.url, [...p, 'url'], add, 'webhook url');
        positive(w.timeout, [...p, 'timeout'], add);
        if (w.http_config?.authorization && w.http_config.basic_auth) {
          add([...p, 'http_config'], 'CONFLICT', 'set either authorization or basic_auth, not both');
        }
      });
      (r.alertmanager_configs ?? []).forEach((a, j) => {
        const p: (string | number)[] = ['receivers', i, 'alertmanager_configs', j];
        a.urls.forEach((u, k) => checkUrl(u, [...p, 'urls', k], add, 'Alertmanager url'));
        positive(a.timeout, [...p, 'timeout'], add);
        if (a.http_config?.authorization && a.http_config.basic_auth) {
          add([...p, 'http_config'], 'CONFLICT', 'set either authorization or basic_auth, not both');
        }
      });
      (r.email_configs ?? []).forEach((e, j) => {
        const p: (string | number)[] = ['receivers', i, 'email_configs', j];
        if (e.to.split(',').every((a) => a.trim() === ''))
          add([...p, 'to'], 'INVALID_VALUE', 'to has no address');
        if (e.auth_password !== undefined && e.auth_username === undefined) {
          add([...p, 'auth_password'], 'CONFLICT', 'auth_password needs auth_username');
        }
        const port = Number(e.smarthost.slice(e.smarthost.lastIndexOf(':') + 1));
        if (!(port >= 1 && port <= 65535))
          add([...p, 'smarthost'], 'INVALID_VALUE', `smarthost port ${port} is out of range`);
        positive(e.timeout, [...p, 'timeout'], add);
      });
    }),
  );

  // Time intervals.
  const intervals = Array.isArray(cfg.time_intervals) ? cfg.time_intervals : [];
  const intervalNames = intervals.map((t) => nameOf(t));
  duplicates(intervalNames, (i, name) =>
    add(['time_intervals', i, 'name'], 'DUPLICATE_NAME', `time interval "${name}" is defined more than once`),
  );
  intervals.forEach((t, i) =>
    part(() =>
      t.time_intervals.forEach((spec, j) =>
        part(() => {
          const c = compileTimeIntervalSpec(spec);
          if (Array.isArray(c)) {
            for (const issue of c)
              add(['time_intervals', i, 'time_intervals', j, ...issue.path], 'INVALID_VALUE', issue.message);
          }
        }),
      ),
    ),
  );
  const checkIntervalRefs = (refs: readonly string[] | undefined, path: (string | number)[]): void =>
    (refs ?? []).forEach((name, k) => {
      if (!intervalNames.includes(name)) {
        add(
          [...path, k],
          'UNKNOWN_REFERENCE',
          `time interval "${name}" is not defined; defined: ${listOf(intervalNames)}`,
        );
      }
    });

  // Route tree.
  const root = cfg.route;
  if (root) {
    if (root.receiver === undefined) add(['route'], 'INVALID_VALUE', 'the root route must have a receiver');
    if (root.matchers !== undefined || root.match !== undefined || root.match_re !== undefined) {
      const key = root.matchers !== undefined ? 'matchers' : root.match !== undefined ? 'match' : 'match_re';
      add(['route', key], 'INVALID_VALUE', 'the root route must not have matchers (it receives every alert)');
    }
    if (root.mute_time_intervals?.length) {
      add(
        ['route', 'mute_time_intervals'],
        'INVALID_VALUE',
        'the root route must not have mute_time_intervals',
      );
    }
    if (root.active_time_intervals?.length) {
      add(
        ['route', 'active_time_intervals'],
        'INVALID_VALUE',
        'the root route must not have active_time_intervals',
      );
    }
    if (root.continue === true)
      add(['route', 'continue'], 'INVALID_VALUE', 'the root route cannot have continue');
    const walk = (r: RouteConfig, path: (string | number)[], detection: DetectionOverride): void =>
      part(() => walkNode(r, path, detection));
    const walkNode = (r: RouteConfig, path: (string | number)[], detection: DetectionOverride): void => {
      if (r.receiver !== undefined && !receiverNames.includes(r.receiver)) {
        add(
          [...path, 'receiver'],
          'UNKNOWN_RECEIVER',
          `receiver "${r.receiver}" is not defined; defined: ${listOf(receiverNames)}`,
        );
      }
      checkMatchers(r.matchers, [...path, 'matchers'], add);
      for (const [name, value] of Object.entries(r.match_re ?? {})) {
        checkSpec({ name, type: '=~', value }, [...path, 'match_re', name], add);
      }
      for (const name of [...Object.keys(r.match ?? {}), ...Object.keys(r.match_re ?? {})]) {
        if (!LABEL_NAME.test(name)) add([...path, 'match'], 'INVALID_VALUE', `invalid label name "${name}"`);
      }
      if (r.group_by) {
        if (r.group_by.includes('...') && r.group_by.length > 1) {
          add(
            [...path, 'group_by'],
            'INVALID_VALUE',
            "group_by '...' (all labels) cannot be combined with other labels",
          );
        }
        const seen = new Set<string>();
        r.group_by.forEach((name, k) => {
          if (name !== '...' && !LABEL_NAME.test(name)) {
            add([...path, 'group_by', k], 'INVALID_VALUE', `invalid label name "${name}"`);
          }
          if (seen.has(name))
            add([...path, 'group_by', k], 'INVALID_VALUE', `duplicated label "${name}" in group_by`);
          seen.add(name);
        });
      }
      for (const key of ['group_interval', 'repeat_interval'] as const) {
        const v = r[key];
        if (ms(v) === 0) add([...path, key], 'INVALID_VALUE', `${key} cannot be 0`);
      }
      checkIntervalRefs(r.mute_time_intervals, [...path, 'mute_time_intervals']);
      checkIntervalRefs(r.active_time_intervals, [...path, 'active_time_intervals']);
      const merged = { ...detection, ...(r.detection ?? {}) };
      if (r.detection) {
        const t = merged.threshold;
        const rt = merged.recovery_threshold;
        if (t !== undefined && rt !== undefined && rt > t) {
          add(
            [
              ...path,
              'detection',
              r.detection.recovery_threshold !== undefined ? 'recovery_threshold' : 'threshold',
            ],
            'CONFLICT',
            `recovery_threshold ${rt} must not exceed threshold ${t}`,
          );
        }
        if (ms(r.detection.flapping?.window) === 0) {
          add([...path, 'detection', 'flapping', 'window'], 'INVALID_VALUE', 'flapping window cannot be 0');
        }
      }
      (r.routes ?? []).forEach((child, k) => walk(child, [...path, 'routes', k], merged));
    };
    walk(root, ['route'], {});
  }

  // Inhibit rules.
  (Array.isArray(cfg.inhibit_rules) ? cfg.inhibit_rules : []).forEach((r, i) =>
    part(() => {
      checkMatchers(r.source_matchers, ['inhibit_rules', i, 'source_matchers'], add);
      checkMatchers(r.target_matchers, ['inhibit_rules', i, 'target_matchers'], add);
      (r.equal ?? []).forEach((name, k) => {
        if (!LABEL_NAME.test(name))
          add(['inhibit_rules', i, 'equal', k], 'INVALID_VALUE', `invalid label name "${name}"`);
      });
    }),
  );

  // Silences.
  const silences = Array.isArray(cfg.silences) ? cfg.silences : [];
  part(() =>
    duplicates(
      silences.map((s) => configSilenceId(s)),
      (i, id) =>
        add(
          ['silences', i, s(silences[i]?.id)],
          'DUPLICATE_NAME',
          `silence id "${id}" is used more than once`,
        ),
    ),
  );
  silences.forEach((sil, i) =>
    part(() => {
      const p: (string | number)[] = ['silences', i];
      const specs = checkMatchers(sil.matchers, [...p, 'matchers'], add);
      if (specs && specs.length > 0 && specs.every((m) => safeMatchesEmpty(m))) {
        add([...p, 'matchers'], 'INVALID_VALUE', 'at least one matcher must not match the empty string');
      }
      const start = sil.starts_at !== undefined ? parseTimestamp(sil.starts_at) : 0;
      const end = sil.ends_at !== undefined ? parseTimestamp(sil.ends_at) : Infinity;
      if (start === undefined)
        add([...p, 'starts_at'], 'INVALID_VALUE', `starts_at "${sil.starts_at}" is not an RFC 3339 time`);
      if (end === undefined)
        add([...p, 'ends_at'], 'INVALID_VALUE', `ends_at "${sil.ends_at}" is not an RFC 3339 time`);
      if (start !== undefined && end !== undefined && end <= start) {
        add([...p, 'ends_at'], 'CONFLICT', 'ends_at must be after starts_at');
      }
      checkIntervalRefs(sil.time_intervals, [...p, 'time_intervals']);
    }),
  );

  // Retry.
  const retry = cfg.retry ?? {};
  const initial = ms(retry.initial_backoff);
  const max = ms(retry.max_backoff);
  if (initial === 0) add(['retry', 'initial_backoff'], 'INVALID_VALUE', 'initial_backoff cannot be 0');
  if (initial !== undefined && max !== undefined && initial > max) {
    add(
      ['retry', 'initial_backoff'],
      'CONFLICT',
      `initial_backoff ${retry.initial_backoff} exceeds max_backoff ${retry.max_backoff}`,
    );
  }
  const lc = cfg.lifecycle;
  if (ms(lc?.flapping?.window) === 0) {
    add(['lifecycle', 'flapping', 'window'], 'INVALID_VALUE', 'flapping window cannot be 0');
  }
  return issues;
}

/** `'id'` when the silence has an explicit id (to point at it), else nothing more specific. */
function s(id: string | undefined): string {
  return id !== undefined ? 'id' : 'matchers';
}

function nameOf(x: unknown): string {
  const n = (x as { name?: unknown } | null)?.name;
  return typeof n === 'string' ? n : '';
}

function duplicates(names: readonly string[], report: (index: number, name: string) => void): void {
  const seen = new Set<string>();
  names.forEach((n, i) => {
    if (seen.has(n)) report(i, n);
    seen.add(n);
  });
}

type Add = (path: (string | number)[], code: AlertingIssueCode, message: string) => void;

function checkSpec(spec: MatcherSpec, path: (string | number)[], add: Add): boolean {
  try {
    compileMatcher(spec);
    return true;
  } catch (err) {
    add(path, 'INVALID_VALUE', (err as Error).message);
    return false;
  }
}

/** Parses matchers, reporting each bad item at its own path. Returns the specs when all parse. */
function checkMatchers(
  input: string | readonly string[] | undefined,
  path: (string | number)[],
  add: Add,
): MatcherSpec[] | undefined {
  if (input === undefined) return [];
  const items = typeof input === 'string' ? [input] : input;
  const out: MatcherSpec[] = [];
  let ok = true;
  items.forEach((item, k) => {
    const at = typeof input === 'string' ? path : [...path, k];
    try {
      out.push(...parseMatcherGroup(item));
    } catch (err) {
      ok = false;
      add(at, 'INVALID_VALUE', `invalid matcher: ${(err as Error).message}`);
    }
  });
  return ok ? out : undefined;
}

function safeMatchesEmpty(m: MatcherSpec): boolean {
  try {
    return compileMatcher(m).matches('');
  } catch {
    return false; // reported as an invalid matcher already
  }
}

function checkUrl(url: string, path: (string | number)[], add: Add, what: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    add(path, 'INVALID_VALUE', `${what} is not a valid URL`); // the value may be secret: not echoed
    return;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    add(path, 'INVALID_VALUE', `${what} must be http or https, not ${u.protocol.replace(':', '')}`);
  }
}

function positive(d: string | undefined, path: (string | number)[], add: Add): void {
  if (ms(d) === 0) add(path, 'INVALID_VALUE', 'timeout cannot be 0');
}
