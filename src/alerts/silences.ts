/**
 * Silences (pure model): Alertmanager's v2 shape, states and validation, plus YAML silences
 * (read-only, optionally recurring through `time_intervals`) and the message that carries them
 * to worker threads, where silenced samples are kept out of model training.
 *
 * A silence mutes alerts whose labels match all its matchers while `startsAt ≤ now < endsAt`
 * (and, for a recurring silence, while `now` is inside one of its time intervals). States:
 * `pending` before startsAt, `active` until endsAt, `expired` after.
 */
import { fnv1a64Hex } from '../common/index.js';
import type { ConfigSilence, TimeIntervalConfig } from './config.js';
import {
  compileMatcher,
  fromApiMatcher,
  matchesAll,
  MatcherError,
  parseMatchers,
  type ApiMatcher,
  type Matcher,
  type MatcherSpec,
} from './matchers.js';
import { compileTimeInterval, intervalContains, type TimeInterval } from './time-intervals.js';

export type SilenceState = 'pending' | 'active' | 'expired';

/** A silence; times in epoch ms. */
export interface Silence {
  readonly id: string;
  readonly matchers: readonly MatcherSpec[];
  readonly startsAt: number;
  readonly endsAt: number;
  readonly createdBy: string;
  readonly comment: string;
  readonly updatedAt: number;
  /** `config` silences come from YAML and cannot be changed through the API. */
  readonly source: 'api' | 'config';
  /** Recurring window (config silences): the definitions of the named time intervals. */
  readonly timeIntervals?: readonly TimeIntervalConfig[];
}

/** Latest representable instant, used for "no end" (year 9999). */
export const FOREVER_MS = Date.UTC(9999, 11, 31, 23, 59, 59);

export function silenceState(s: Pick<Silence, 'startsAt' | 'endsAt'>, nowMs: number): SilenceState {
  if (nowMs < s.startsAt) return 'pending';
  if (nowMs < s.endsAt) return 'active';
  return 'expired';
}

/** A silence ready for matching. */
export interface CompiledSilence {
  readonly silence: Silence;
  readonly matchers: readonly Matcher[];
  readonly intervals: readonly TimeInterval[];
}

export function compileSilence(s: Silence): CompiledSilence {
  return {
    silence: s,
    matchers: s.matchers.map(compileMatcher),
    intervals: (s.timeIntervals ?? []).map(compileTimeInterval),
  };
}

/** True when the silence is in effect at `ms` (its window, and its recurring intervals if any). */
export function silenceInEffect(c: CompiledSilence, ms: number): boolean {
  if (ms < c.silence.startsAt || ms >= c.silence.endsAt) return false;
  return c.intervals.length === 0 || c.intervals.some((i) => intervalContains(i, ms));
}

export function silenceMatches(c: CompiledSilence, labels: Readonly<Record<string, string>>): boolean {
  return matchesAll(c.matchers, labels);
}

/** Alertmanager v2 `postableSilence`. */
export interface SilenceBody {
  readonly id?: string;
  readonly matchers: readonly ApiMatcher[];
  readonly startsAt: string;
  readonly endsAt: string;
  readonly createdBy: string;
  readonly comment: string;
}

/** Parses an RFC 3339 timestamp to epoch ms; undefined when it is not one. */
export function parseTimestamp(text: string): number | undefined {
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) return undefined;
  const ms = Date.parse(text);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Validates an API silence body against Alertmanager's rules: at least one matcher, valid
 * regexes, at least one matcher that does not match the empty string (so a silence cannot mute
 * everything), endsAt after startsAt and in the future. A startsAt in the past becomes now.
 * Returns the problems, or the matchers and times.
 */
export function validateSilenceBody(
  body: SilenceBody,
  nowMs: number,
):
  | { ok: true; matchers: MatcherSpec[]; startsAt: number; endsAt: number }
  | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const matchers: MatcherSpec[] = [];
  if (body.matchers.length === 0) problems.push('a silence needs at least one matcher');
  body.matchers.forEach((m, i) => {
    const spec = fromApiMatcher(m);
    if (spec.name === '') {
      problems.push(`matchers[${i}]: empty label name`);
      return;
    }
    try {
      compileMatcher(spec);
      matchers.push(spec);
    } catch (err) {
      problems.push(`matchers[${i}]: ${(err as MatcherError).message}`);
    }
  });
  if (matchers.length > 0 && matchers.every((m) => compileMatcher(m).matches(''))) {
    problems.push('at least one matcher must not match the empty string');
  }
  let startsAt = parseTimestamp(body.startsAt);
  const endsAt = parseTimestamp(body.endsAt);
  if (startsAt === undefined)
    problems.push(`startsAt ${JSON.stringify(body.startsAt)} is not an RFC 3339 time`);
  if (endsAt === undefined) problems.push(`endsAt ${JSON.stringify(body.endsAt)} is not an RFC 3339 time`);
  if (startsAt !== undefined && endsAt !== undefined) {
    if (endsAt <= startsAt) problems.push('endsAt must be after startsAt');
    else if (endsAt <= nowMs) problems.push('endsAt must be in the future');
  }
  if (problems.length > 0 || startsAt === undefined || endsAt === undefined) return { ok: false, problems };
  if (startsAt < nowMs) startsAt = nowMs;
  return { ok: true, matchers, startsAt, endsAt };
}

/** The id of a YAML silence: its `id`, or a hash of its content (stable across restarts). */
export function configSilenceId(s: ConfigSilence): string {
  if (s.id !== undefined) return s.id;
  const content = JSON.stringify([s.matchers, s.starts_at ?? '', s.ends_at ?? '', s.time_intervals ?? []]);
  return `config-${fnv1a64Hex(content)}`;
}

/** Turns validated YAML silences into silences (`intervals` = the config's time_intervals). */
export function configSilences(
  list: readonly ConfigSilence[],
  intervals: readonly TimeIntervalConfig[],
): Silence[] {
  return list.map((s) => {
    const refs = s.time_intervals ?? [];
    const defs = refs
      .map((name) => intervals.find((i) => i.name === name))
      .filter((d): d is TimeIntervalConfig => d !== undefined);
    return {
      id: configSilenceId(s),
      matchers: parseMatchers(s.matchers),
      startsAt: s.starts_at !== undefined ? (parseTimestamp(s.starts_at) ?? 0) : 0,
      endsAt: s.ends_at !== undefined ? (parseTimestamp(s.ends_at) ?? FOREVER_MS) : FOREVER_MS,
      createdBy: s.created_by ?? 'config',
      comment: s.comment ?? '',
      updatedAt: 0,
      source: 'config',
      ...(defs.length > 0 ? { timeIntervals: defs } : {}),
    };
  });
}

/**
 * The broadcast that carries silences to the workers (`runtime.broadcast(message)`): every
 * known silence, including expired ones, so that replayed samples are judged by the silences
 * in effect at their event time.
 */
export interface SilencesBroadcast {
  readonly topic: 'silences';
  readonly silences: readonly Silence[];
}

/** Type guard for a silences broadcast (broadcasts arrive as `unknown`; normalize the list with {@link normalizeSilences}). */
export function isSilencesBroadcast(
  message: unknown,
): message is { readonly topic: 'silences'; readonly silences: readonly unknown[] } {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as { topic?: unknown }).topic === 'silences' &&
    Array.isArray((message as { silences?: unknown }).silences)
  );
}

/**
 * Turns the silences of a broadcast into {@link Silence}s. Accepts both the dispatcher's
 * internal shape (epoch ms, `{name, type, value}` matchers, time interval definitions) and the
 * API shape of `listSilences()` (RFC 3339 times, `{name, value, isRegex, isEqual}` matchers,
 * time interval names, resolved against `intervals`). Entries that fit neither are skipped.
 */
export function normalizeSilences(
  list: readonly unknown[],
  intervals: readonly TimeIntervalConfig[],
): Silence[] {
  const out: Silence[] = [];
  const time = (v: unknown): number | undefined =>
    typeof v === 'number' ? v : typeof v === 'string' ? parseTimestamp(v) : undefined;
  for (const raw of list) {
    if (typeof raw !== 'object' || raw === null) continue;
    const r = raw as Record<string, unknown>;
    const startsAt = time(r['startsAt']);
    const endsAt = time(r['endsAt']);
    if (
      typeof r['id'] !== 'string' ||
      !Array.isArray(r['matchers']) ||
      startsAt === undefined ||
      endsAt === undefined
    )
      continue;
    const matchers: MatcherSpec[] = [];
    for (const m of r['matchers'] as unknown[]) {
      const mm = m as Record<string, unknown>;
      if (typeof mm['name'] !== 'string' || typeof mm['value'] !== 'string') continue;
      if (mm['type'] === '=' || mm['type'] === '!=' || mm['type'] === '=~' || mm['type'] === '!~') {
        matchers.push({ name: mm['name'], type: mm['type'], value: mm['value'] });
      } else {
        matchers.push(
          fromApiMatcher({
            name: mm['name'],
            value: mm['value'],
            isRegex: mm['isRegex'] === true,
            isEqual: mm['isEqual'] !== false,
          }),
        );
      }
    }
    const ti = Array.isArray(r['timeIntervals']) ? (r['timeIntervals'] as unknown[]) : [];
    const defs = ti
      .map((t) => (typeof t === 'string' ? intervals.find((i) => i.name === t) : (t as TimeIntervalConfig)))
      .filter((d): d is TimeIntervalConfig => d !== undefined && typeof d === 'object');
    out.push({
      id: r['id'],
      matchers,
      startsAt,
      endsAt,
      createdBy: typeof r['createdBy'] === 'string' ? r['createdBy'] : '',
      comment: typeof r['comment'] === 'string' ? r['comment'] : '',
      updatedAt: time(r['updatedAt']) ?? 0,
      source: r['source'] === 'config' ? 'config' : 'api',
      ...(defs.length > 0 ? { timeIntervals: defs } : {}),
    });
  }
  return out;
}

export { MatcherError };
