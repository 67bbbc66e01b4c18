/**
 * Series identity. A series key is the metric name followed by its labels sorted by name, in
 * Prometheus text-format notation:
 *
 *     http_requests_total{method="GET",service="api"}
 *
 * Label values escape backslash, double quote and newline as `\\`, `\"`, `\n`. A series without
 * labels is the bare metric name. The same metric and labels always give the same key, whichever
 * protocol they arrived by and in whatever order the labels were written.
 */
export type Labels = Readonly<Record<string, string>>;

const NEEDS_ESCAPE = /[\\"\n]/;

function escapeValue(v: string): string {
  // Fast path: most label values need no escaping (this runs for every sample ingested).
  if (!NEEDS_ESCAPE.test(v)) return v;
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}

/** Builds the series key of `metric` with `labels` (sorted by label name). */
export function seriesKey(metric: string, labels: Labels): string {
  const names = Object.keys(labels);
  if (names.length === 0) return metric;
  names.sort();
  let out = metric + '{';
  for (let i = 0; i < names.length; i++) {
    const n = names[i] as string;
    if (i > 0) out += ',';
    out += `${n}="${escapeValue(labels[n] as string)}"`;
  }
  return out + '}';
}

/** The inverse of {@link seriesKey}. Returns undefined when `key` is not a well-formed series key. */
export function parseSeriesKey(key: string): { metric: string; labels: Record<string, string> } | undefined {
  const brace = key.indexOf('{');
  if (brace < 0) return key.length > 0 ? { metric: key, labels: {} } : undefined;
  if (!key.endsWith('}')) return undefined;
  const metric = key.slice(0, brace);
  const labels: Record<string, string> = {};
  let i = brace + 1;
  const end = key.length - 1;
  while (i < end) {
    const eq = key.indexOf('="', i);
    if (eq < 0) return undefined;
    const name = key.slice(i, eq);
    let j = eq + 2;
    let value = '';
    for (; j < end; j++) {
      const c = key[j];
      if (c === '\\') {
        const n = key[++j];
        value += n === 'n' ? '\n' : (n ?? '');
      } else if (c === '"') break;
      else value += c;
    }
    if (key[j] !== '"') return undefined;
    // defineProperty: a label literally named "__proto__" stays a plain own property.
    Object.defineProperty(labels, name, { value, enumerable: true, writable: true, configurable: true });
    i = j + 1;
    if (key[i] === ',') i++;
  }
  return { metric, labels };
}
