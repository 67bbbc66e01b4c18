/**
 * Label matchers, as Alertmanager writes them: `name="value"`, `name!="value"`, `name=~"regex"`,
 * `name!~"regex"`. Written either one per list item (`['service="api"', 'env=~"prod|stage"']`) or
 * as one braced string (`'{service="api", env=~"prod|stage"}'`); values may be unquoted in the
 * classic form (`service=api`). A missing label matches as the empty string, so `team=""` matches
 * alerts without `team` (Alertmanager's rule).
 *
 * Regexes are anchored (`^(?:re)$`) like Alertmanager's RE2 ones. They run on JavaScript's engine:
 * a leading RE2 flag group `(?i)`, `(?s)` or `(?is)` is translated to JS flags; lookarounds and
 * backreferences, which RE2 rejects, are accepted here. Patterns are capped at
 * {@link MAX_REGEX_LENGTH} characters.
 */

/** The four match operators. */
export type MatchType = '=' | '!=' | '=~' | '!~';

/** A matcher as written in config and in the API (plain data, structured-clone safe). */
export interface MatcherSpec {
  readonly name: string;
  readonly type: MatchType;
  readonly value: string;
}

/** A compiled matcher. */
export interface Matcher extends MatcherSpec {
  matches(value: string): boolean;
}

/** Longest regex source accepted, in characters (the JS engine backtracks; keep patterns small). */
export const MAX_REGEX_LENGTH = 1000;

/** Why a matcher did not parse or compile. */
export class MatcherError extends Error {
  override readonly name = 'MatcherError';
  readonly code = 'ALERTS_INVALID_MATCHER';
}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Compiles a regex the way Alertmanager anchors it. Throws {@link MatcherError}. */
export function compileAnchoredRegex(source: string): RegExp {
  if (source.length > MAX_REGEX_LENGTH) {
    throw new MatcherError(`regex is longer than ${MAX_REGEX_LENGTH} characters`);
  }
  let flags = '';
  let body = source;
  const lead = /^\(\?([ims]+)\)/.exec(body);
  if (lead) {
    for (const f of new Set(lead[1])) flags += f === 's' ? 's' : f === 'i' ? 'i' : 'm';
    body = body.slice(lead[0].length);
  }
  try {
    return new RegExp(`^(?:${body})$`, flags);
  } catch (err) {
    throw new MatcherError(`invalid regex ${JSON.stringify(source)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
}

/** Compiles a matcher spec. Throws {@link MatcherError} for a bad regex or label name. */
export function compileMatcher(spec: MatcherSpec): Matcher {
  if (spec.name.length === 0) throw new MatcherError('matcher has an empty label name');
  const { name, type, value } = spec;
  switch (type) {
    case '=':
      return { name, type, value, matches: (v) => v === value };
    case '!=':
      return { name, type, value, matches: (v) => v !== value };
    case '=~': {
      const re = compileAnchoredRegex(value);
      return { name, type, value, matches: (v) => re.test(v) };
    }
    case '!~': {
      const re = compileAnchoredRegex(value);
      return { name, type, value, matches: (v) => !re.test(v) };
    }
  }
}

/** True when every matcher matches `labels` (a missing label is the empty string). */
export function matchesAll(matchers: readonly Matcher[], labels: Readonly<Record<string, string>>): boolean {
  for (const m of matchers) if (!m.matches(labels[m.name] ?? '')) return false;
  return true;
}

/**
 * Parses one matcher list as written in config: each item is one matcher or a braced group.
 * Throws {@link MatcherError} naming the item that failed.
 */
export function parseMatchers(input: string | readonly string[]): MatcherSpec[] {
  const items = typeof input === 'string' ? [input] : input;
  const out: MatcherSpec[] = [];
  for (const item of items) out.push(...parseMatcherGroup(item));
  return out;
}

/** Parses and compiles, sorted like Alertmanager sorts them (name, value, type). */
export function compileMatchers(input: string | readonly string[]): Matcher[] {
  return sortMatchers(parseMatchers(input)).map(compileMatcher);
}

/** Sorts matcher specs by name, then value, then operator (Alertmanager's `Matchers.Less`). */
export function sortMatchers<T extends MatcherSpec>(ms: readonly T[]): T[] {
  const order: Record<MatchType, number> = { '=': 0, '!=': 1, '=~': 2, '!~': 3 };
  return [...ms].sort((a, b) =>
    a.name !== b.name
      ? a.name < b.name
        ? -1
        : 1
      : a.value !== b.value
        ? a.value < b.value
          ? -1
          : 1
        : order[a.type] - order[b.type],
  );
}

/** Parses `{a="b", c=~"d"}`, `a="b", c=~"d"` or a single `a=b`. */
export function parseMatcherGroup(text: string): MatcherSpec[] {
  let s = text.trim();
  if (s.startsWith('{')) {
    if (!s.endsWith('}')) throw new MatcherError(`${JSON.stringify(text)}: missing closing "}"`);
    s = s.slice(1, -1).trim();
    if (s === '') return [];
  }
  const out: MatcherSpec[] = [];
  let i = 0;
  function fail(why: string): never {
    throw new MatcherError(`${JSON.stringify(text)}: ${why}`);
  }
  function skipSpace(): void {
    while (i < s.length && /\s/.test(s[i] as string)) i++;
  }
  while (i < s.length) {
    skipSpace();
    // label name: bare identifier or a quoted UTF-8 name
    let name = '';
    if (s[i] === '"') {
      const q = readQuoted(s, i);
      if (!q) fail('unterminated quoted label name');
      name = q.value;
      i = q.end;
    } else {
      const m = /^[^\s=!~,"{}]+/.exec(s.slice(i));
      if (!m) fail(`expected a label name at position ${i + 1}`);
      name = m[0];
      if (!NAME.test(name)) fail(`invalid label name ${JSON.stringify(name)}`);
      i += name.length;
    }
    skipSpace();
    const op = /^(=~|!~|!=|=)/.exec(s.slice(i));
    if (!op) fail(`expected one of =, !=, =~, !~ after ${JSON.stringify(name)}`);
    const type = op[0] as MatchType;
    i += type.length;
    skipSpace();
    let value: string;
    if (s[i] === '"') {
      const q = readQuoted(s, i);
      if (!q) fail(`unterminated quoted value for ${JSON.stringify(name)}`);
      value = q.value;
      i = q.end;
    } else {
      let j = i;
      while (j < s.length && s[j] !== ',') j++;
      value = s.slice(i, j).trim();
      if (value.includes('"')) fail(`stray quote in the value of ${JSON.stringify(name)}`);
      i = j;
    }
    out.push({ name, type, value });
    skipSpace();
    if (i < s.length) {
      if (s[i] !== ',') fail(`expected "," at position ${i + 1}`);
      i++;
      skipSpace();
      if (i >= s.length) break; // a trailing comma is allowed, as in Alertmanager
    }
  }
  if (out.length === 0) fail('no matcher');
  for (const m of out) if (m.type === '=~' || m.type === '!~') compileAnchoredRegex(m.value);
  return out;
}

function readQuoted(s: string, start: number): { value: string; end: number } | undefined {
  let value = '';
  for (let j = start + 1; j < s.length; j++) {
    const c = s[j] as string;
    if (c === '\\') {
      const n = s[++j];
      if (n === undefined) return undefined;
      value += n === 'n' ? '\n' : n === 't' ? '\t' : n;
    } else if (c === '"') return { value, end: j + 1 };
    else value += c;
  }
  return undefined;
}

/** Prints a matcher the way Alertmanager's `Matcher.String()` does: `name="value"` (escaped). */
export function formatMatcher(m: MatcherSpec): string {
  const esc = (v: string): string => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  const name = NAME.test(m.name) ? m.name : `"${esc(m.name)}"`;
  return `${name}${m.type}"${esc(m.value)}"`;
}

/** `{a="b",c=~"d"}` (Alertmanager's `Matchers.String()`: comma without space). */
export function formatMatchers(ms: readonly MatcherSpec[]): string {
  return `{${ms.map(formatMatcher).join(',')}}`;
}

/** Alertmanager v2 API matcher shape. */
export interface ApiMatcher {
  readonly name: string;
  readonly value: string;
  readonly isRegex: boolean;
  /** @defaultValue true */
  readonly isEqual?: boolean;
}

export function fromApiMatcher(m: ApiMatcher): MatcherSpec {
  const eq = m.isEqual ?? true;
  const type: MatchType = m.isRegex ? (eq ? '=~' : '!~') : eq ? '=' : '!=';
  return { name: m.name, type, value: m.value };
}

export function toApiMatcher(m: MatcherSpec): Required<ApiMatcher> {
  return {
    name: m.name,
    value: m.value,
    isRegex: m.type === '=~' || m.type === '!~',
    isEqual: m.type === '=' || m.type === '=~',
  };
}

/** Prometheus-style label set string: `{a="b", c="d"}` (sorted, comma and space). */
export function formatLabelSet(labels: Readonly<Record<string, string>>): string {
  const names = Object.keys(labels).sort();
  return `{${names.map((n) => `${n}=${JSON.stringify(labels[n])}`).join(', ')}}`;
}
