/**
 * Alertmanager's time intervals (`time_intervals:`), evaluated at an instant (pure).
 *
 * A named interval is a list of specs; it contains an instant when any spec does. A spec
 * contains an instant when every field it sets does (unset fields match everything), evaluated
 * in the spec's `location` (IANA zone via Intl; default UTC):
 * - `times`: `HH:MM` ranges, start inclusive, end exclusive (`24:00` allowed as an end);
 * - `weekdays`: `monday`, `monday:friday`;
 * - `days_of_month`: `1`, `1:5`, negative from the month end (`-1` = last day), clamped to the month;
 * - `months`: names or numbers, ranges allowed; `years`: `2025`, `2025:2027`.
 */
import type { TimeIntervalConfig, TimeIntervalSpecConfig } from './config.js';

interface Range {
  readonly begin: number;
  readonly end: number;
}

/** A compiled spec. */
export interface TimeIntervalSpec {
  readonly times?: readonly Range[];
  readonly weekdays?: readonly Range[];
  readonly daysOfMonth?: readonly Range[];
  readonly months?: readonly Range[];
  readonly years?: readonly Range[];
  readonly location: string;
}

/** A compiled named interval. */
export interface TimeInterval {
  readonly name: string;
  readonly specs: readonly TimeIntervalSpec[];
}

const WEEKDAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];
const MONTHS = [
  'january',
  'february',
  'march',
  'april',
  'may',
  'june',
  'july',
  'august',
  'september',
  'october',
  'november',
  'december',
];

/** A problem in one field of a spec; `path` is relative to the spec. */
export interface TimeIntervalIssue {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

function parseClock(text: string): number | undefined {
  const m = /^([0-9]{2}):([0-9]{2})$/.exec(text);
  if (!m) return undefined;
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (min > 59 || h > 24 || (h === 24 && min !== 0)) return undefined;
  return h * 60 + min;
}

function parseRange(
  item: string | number,
  parseOne: (s: string) => number | undefined,
  what: string,
): Range | string {
  const text = String(item).trim().toLowerCase();
  const parts = text.split(':');
  if (parts.length > 2) return `invalid ${what} range ${JSON.stringify(String(item))}`;
  const begin = parseOne(parts[0] ?? '');
  const end = parts.length === 2 ? parseOne(parts[1] ?? '') : begin;
  if (begin === undefined || end === undefined) return `invalid ${what} ${JSON.stringify(String(item))}`;
  return { begin, end };
}

const intIn =
  (lo: number, hi: number) =>
  (s: string): number | undefined => {
    if (!/^-?[0-9]+$/.test(s)) return undefined;
    const n = Number(s);
    return n >= lo && n <= hi ? n : undefined;
  };

/** True when Intl knows the zone (IANA name, `UTC` or `Local`). */
export function isValidTimeZone(zone: string): boolean {
  if (zone === 'Local') return true;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false; // RangeError: the zone is unknown; that is the answer
  }
}

/**
 * Compiles one spec. Returns the issues instead when a field is invalid (each issue names the
 * field and item).
 */
export function compileTimeIntervalSpec(
  spec: TimeIntervalSpecConfig,
): TimeIntervalSpec | TimeIntervalIssue[] {
  const issues: TimeIntervalIssue[] = [];
  const ranges = (
    field: 'weekdays' | 'days_of_month' | 'months' | 'years',
    parseOne: (s: string) => number | undefined,
    what: string,
    check: (r: Range) => string | undefined,
  ): Range[] | undefined => {
    const items = spec[field];
    if (items === undefined) return undefined;
    const out: Range[] = [];
    items.forEach((item, i) => {
      const r = parseRange(item, parseOne, what);
      if (typeof r === 'string') issues.push({ path: [field, i], message: r });
      else {
        const bad = check(r);
        if (bad) issues.push({ path: [field, i], message: bad });
        else out.push(r);
      }
    });
    return out;
  };
  const times: Range[] | undefined = spec.times?.flatMap((t, i) => {
    const begin = parseClock(t.start_time);
    const end = parseClock(t.end_time);
    if (begin === undefined || begin >= 1440) {
      issues.push({
        path: ['times', i, 'start_time'],
        message: `invalid start_time ${JSON.stringify(t.start_time)}`,
      });
      return [];
    }
    if (end === undefined) {
      issues.push({
        path: ['times', i, 'end_time'],
        message: `invalid end_time ${JSON.stringify(t.end_time)}`,
      });
      return [];
    }
    if (end <= begin) {
      issues.push({
        path: ['times', i],
        message: `start_time ${t.start_time} must be before end_time ${t.end_time} (split ranges that cross midnight)`,
      });
      return [];
    }
    return [{ begin, end }];
  });
  const order = (what: string) => (r: Range) =>
    r.begin > r.end ? `${what} range start must not be after its end` : undefined;
  const weekdays = ranges(
    'weekdays',
    (s) => {
      const i = WEEKDAYS.indexOf(s);
      return i < 0 ? undefined : i;
    },
    'weekday',
    order('weekday'),
  );
  const daysOfMonth = ranges('days_of_month', intIn(-31, 31), 'day of month', (r) => {
    if (r.begin === 0 || r.end === 0) return 'day of month 0 does not exist (use 1..31 or -31..-1)';
    const tb = r.begin < 0 ? 30 + r.begin : r.begin;
    const te = r.end < 0 ? 30 + r.end : r.end;
    return tb > te ? 'day of month range start must not be after its end' : undefined;
  });
  const months = ranges(
    'months',
    (s) => {
      const i = MONTHS.indexOf(s);
      if (i >= 0) return i + 1;
      return intIn(1, 12)(s);
    },
    'month',
    order('month'),
  );
  const years = ranges('years', intIn(1, 9999), 'year', order('year'));
  const location = spec.location ?? 'UTC';
  if (!isValidTimeZone(location)) {
    issues.push({
      path: ['location'],
      message: `unknown time zone ${JSON.stringify(location)} (use an IANA name)`,
    });
  }
  if (issues.length > 0) return issues;
  return {
    ...(times ? { times } : {}),
    ...(weekdays ? { weekdays } : {}),
    ...(daysOfMonth ? { daysOfMonth } : {}),
    ...(months ? { months } : {}),
    ...(years ? { years } : {}),
    location,
  };
}

/** Compiles a named interval; throws RangeError when a spec is invalid (configs are checked first). */
export function compileTimeInterval(def: TimeIntervalConfig): TimeInterval {
  const specs = def.time_intervals.map((s, i) => {
    const c = compileTimeIntervalSpec(s);
    if (Array.isArray(c)) {
      throw new RangeError(`time interval ${def.name}[${i}]: ${c.map((x) => x.message).join('; ')}`);
    }
    return c;
  });
  return { name: def.name, specs };
}

interface Fields {
  year: number;
  month: number;
  day: number;
  weekday: number;
  minuteOfDay: number;
  daysInMonth: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();
const WEEKDAY_SHORT: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Calendar fields of `ms` in `zone`. */
export function calendarFields(ms: number, zone: string): Fields {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      ...(zone === 'Local' ? {} : { timeZone: zone }),
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      weekday: 'short',
    });
    formatters.set(zone, f);
  }
  const out: Record<string, string> = {};
  for (const p of f.formatToParts(ms)) out[p.type] = p.value;
  const year = Number(out['year']);
  const month = Number(out['month']);
  return {
    year,
    month,
    day: Number(out['day']),
    weekday: WEEKDAY_SHORT[out['weekday'] ?? ''] ?? 0,
    minuteOfDay: Number(out['hour']) * 60 + Number(out['minute']),
    daysInMonth: new Date(Date.UTC(year, month, 0)).getUTCDate(),
  };
}

const inRanges = (rs: readonly Range[] | undefined, v: number): boolean =>
  rs === undefined || rs.some((r) => v >= r.begin && v <= r.end);

/** True when the spec contains instant `ms` (epoch ms). */
export function specContains(spec: TimeIntervalSpec, ms: number): boolean {
  const t = calendarFields(ms, spec.location);
  if (spec.times && !spec.times.some((r) => t.minuteOfDay >= r.begin && t.minuteOfDay < r.end)) return false;
  if (!inRanges(spec.weekdays, t.weekday)) return false;
  if (!inRanges(spec.months, t.month)) return false;
  if (!inRanges(spec.years, t.year)) return false;
  if (spec.daysOfMonth) {
    const n = t.daysInMonth;
    const hit = spec.daysOfMonth.some((r) => {
      let begin = r.begin < 0 ? n + r.begin + 1 : r.begin;
      let end = r.end < 0 ? n + r.end + 1 : r.end;
      if (begin > n) return false;
      begin = Math.max(begin, 1);
      end = Math.min(end, n);
      return t.day >= begin && t.day <= end;
    });
    if (!hit) return false;
  }
  return true;
}

/** True when any spec of `interval` contains `ms`. */
export function intervalContains(interval: TimeInterval, ms: number): boolean {
  return interval.specs.some((s) => specContains(s, ms));
}

/**
 * Why a route is muted at `at` (epoch ms): "not in <name>" for each active interval when none
 * contains `at`, and the name of each mute interval that does. Empty: not muted. When both are
 * set, a mute interval wins (as in Grafana and Alertmanager).
 */
export function routeMutedBy(
  route: { readonly activeTimeIntervals: readonly string[]; readonly muteTimeIntervals: readonly string[] },
  intervals: ReadonlyMap<string, TimeInterval>,
  at: number,
): string[] {
  const out: string[] = [];
  if (route.activeTimeIntervals.length > 0) {
    const active = route.activeTimeIntervals.some((n) => {
      const i = intervals.get(n);
      return i !== undefined && intervalContains(i, at);
    });
    if (!active) out.push(...route.activeTimeIntervals.map((n) => `not in ${n}`));
  }
  for (const n of route.muteTimeIntervals) {
    const i = intervals.get(n);
    if (i && intervalContains(i, at)) out.push(n);
  }
  return out;
}
