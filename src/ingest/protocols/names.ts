/**
 * Name translation for the ecosystem protocols, so that what arrives by OTLP or Influx gets the
 * series name a Prometheus user would expect (the resulting names are then checked by the common
 * rules of validate.ts like any JSON sample).
 *
 * - OTLP follows Prometheus's OTLP translator (github.com/prometheus/otlptranslator, strategy
 *   `UnderscoreEscapingWithSuffixes`, Prometheus 3's default): see {@link otlpMetricName} and
 *   {@link otlpLabelName}.
 * - Influx follows Telegraf's Prometheus serializer: see {@link influxMetricName} and
 *   {@link influxLabelName}.
 */

const VALID_METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const VALID_LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const INVALID_METRIC_CHAR = /[^a-zA-Z0-9_:]/gu;
const INVALID_LABEL_CHAR = /[^a-zA-Z0-9_]/gu;

/** OTLP metric kinds as the Prometheus translator distinguishes them for suffixes. */
export type OtlpNameKind = 'gauge' | 'counter' | 'updown' | 'histogram' | 'summary';

/** UCUM unit → Prometheus base unit word (otlptranslator's spec-correct `unitMap`). */
const UNIT: Readonly<Record<string, string>> = {
  d: 'days',
  h: 'hours',
  min: 'minutes',
  s: 'seconds',
  ms: 'milliseconds',
  us: 'microseconds',
  ns: 'nanoseconds',
  By: 'bytes',
  KiBy: 'kibibytes',
  MiBy: 'mebibytes',
  GiBy: 'gibibytes',
  TiBy: 'tebibytes',
  KBy: 'kilobytes',
  MBy: 'megabytes',
  GBy: 'gigabytes',
  TBy: 'terabytes',
  m: 'meters',
  V: 'volts',
  A: 'amperes',
  J: 'joules',
  W: 'watts',
  g: 'grams',
  Cel: 'celsius',
  Hz: 'hertz',
  '1': '',
  '%': 'percent',
};
/** UCUM "per" unit → singular word (`By/s` → `bytes_per_second`). */
const PER_UNIT: Readonly<Record<string, string>> = {
  s: 'second',
  m: 'minute',
  h: 'hour',
  d: 'day',
  w: 'week',
  mo: 'month',
  y: 'year',
};

const isCompliantChar = (c: number): boolean =>
  (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 58; // a-z A-Z 0-9 :

/** Splits on every character outside [a-zA-Z0-9:] (so runs of `_`, `.`, `-` collapse). */
function tokens(s: string): string[] {
  const out: string[] = [];
  let start = -1;
  for (let i = 0; i < s.length; i++) {
    if (isCompliantChar(s.charCodeAt(i))) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      out.push(s.slice(start, i));
      start = -1;
    }
  }
  if (start >= 0) out.push(s.slice(start));
  return out;
}

/** otlptranslator `cleanUpUnit`: invalid characters → `_`, runs of `_` collapsed, leading `_` dropped. */
function cleanUpUnit(unit: string): string {
  return unit.replace(INVALID_METRIC_CHAR, '_').replace(/__+/g, '_').replace(/^_/, '');
}

function unitSuffixes(unit: string): { main: string; per: string } {
  const slash = unit.indexOf('/');
  const mainRaw = (slash < 0 ? unit : unit.slice(0, slash)).trim();
  const perRaw = slash < 0 ? '' : unit.slice(slash + 1).trim();
  let main = '';
  let per = '';
  if (mainRaw !== '' && !/[{}]/.test(mainRaw)) main = UNIT[mainRaw] ?? mainRaw;
  if (perRaw !== '' && !/[{}]/.test(perRaw)) per = 'per_' + (PER_UNIT[perRaw] ?? perRaw);
  return { main: cleanUpUnit(main), per: cleanUpUnit(per) };
}

/**
 * The Prometheus name of an OTLP metric (otlptranslator `normalizeName`):
 * 1. split the name on every character outside `[a-zA-Z0-9:]` and join the pieces with `_`
 *    (`http.server.request.duration` → `http_server_request_duration`);
 * 2. append the unit (`s` → `_seconds`, `By` → `_bytes`, `By/s` → `_bytes_per_second`, `1` → none;
 *    units in braces such as `{request}` are annotations and add nothing) unless already a word of
 *    the name;
 * 3. monotonic sums get `_total`; gauges with unit `1` get `_ratio`;
 * 4. a leading digit gets a `_` prefix.
 *
 * Returns `undefined` when nothing of the name survives (e.g. `...`).
 */
export function otlpMetricName(name: string, unit: string, kind: OtlpNameKind): string | undefined {
  let parts = tokens(name);
  const { main, per } = unitSuffixes(unit);
  let mainSuffix = parts.includes(main) ? '' : main;
  let perSuffix = per;
  if (perSuffix === 'per_') perSuffix = '';
  else {
    perSuffix = perSuffix.replace(/_$/, '');
    if (parts.includes(perSuffix)) perSuffix = '';
  }
  if (perSuffix !== '') mainSuffix = mainSuffix.replace(/_$/, '');
  if (mainSuffix !== '') parts.push(mainSuffix);
  if (perSuffix !== '') parts.push(perSuffix);
  if (kind === 'counter') parts = [...parts.filter((p) => p !== 'total'), 'total'];
  if (unit === '1' && kind === 'gauge') parts = [...parts.filter((p) => p !== 'ratio'), 'ratio'];
  let out = parts.join('_');
  if (out === '' || /^_*$/.test(out)) return undefined;
  const c = out.charCodeAt(0);
  if (c >= 48 && c <= 57) out = '_' + out;
  return out;
}

/**
 * The Prometheus label name of an OTLP attribute key (otlptranslator `LabelNamer`): every
 * character outside `[a-zA-Z0-9_]` becomes `_` (`http.method` → `http_method`); a leading digit
 * gets `key_` (`2xx` → `key_2xx`); a single leading `_` gets `key` (`_x` → `key_x`). Names starting
 * with `__` stay as they are (and are then refused as reserved by the common rules). Returns
 * `undefined` when the result would be empty or only underscores.
 */
export function otlpLabelName(key: string): string | undefined {
  if (key === '') return undefined;
  if (VALID_LABEL.test(key) && key.charCodeAt(0) !== 95) return key;
  let out = key.replace(INVALID_LABEL_CHAR, '_');
  const c = out.charCodeAt(0);
  if (c >= 48 && c <= 57) out = 'key_' + out;
  else if (c === 95 && out.charCodeAt(1) !== 95) out = 'key' + out;
  if (/^_*$/.test(out)) return undefined;
  return out;
}

/**
 * Telegraf's Prometheus naming for one Influx field: `<measurement>_<field>`, or just `<field>`
 * when the measurement is `prometheus` (what Telegraf's prometheus input writes with
 * `metric_version = 2`). Characters outside `[a-zA-Z0-9_:]` become `_`; a leading digit gets `_`.
 */
export function influxMetricName(measurement: string, field: string): string {
  const raw = measurement === 'prometheus' ? field : measurement + '_' + field;
  if (VALID_METRIC.test(raw)) return raw;
  const out = raw.replace(INVALID_METRIC_CHAR, '_');
  const c = out.charCodeAt(0);
  return c >= 48 && c <= 57 ? '_' + out : out;
}

/** An Influx tag key as a label name: characters outside `[a-zA-Z0-9_]` → `_`; leading digit → `_`. */
export function influxLabelName(tag: string): string {
  if (VALID_LABEL.test(tag)) return tag;
  const out = tag.replace(INVALID_LABEL_CHAR, '_');
  const c = out.charCodeAt(0);
  return c >= 48 && c <= 57 ? '_' + out : out;
}

/**
 * A float formatted like Go's `strconv.FormatFloat(v, 'f', -1, 64)` (shortest round-trip digits,
 * never exponent notation), as Prometheus writes `le` and `quantile` label values:
 * 0.005 → `0.005`, 1e-7 → `0.0000001`, 1e21 → `1000000000000000000000`, ±Inf → `+Inf`/`-Inf`.
 */
export function formatFloat(v: number): string {
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  if (Number.isNaN(v)) return 'NaN';
  const s = String(v);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const neg = s.startsWith('-');
  const mantissa = s.slice(neg ? 1 : 0, e);
  const exp = Number(s.slice(e + 1));
  const dot = mantissa.indexOf('.');
  const digits = dot < 0 ? mantissa : mantissa.slice(0, dot) + mantissa.slice(dot + 1);
  const intLen = (dot < 0 ? mantissa.length : dot) + exp;
  let out: string;
  if (intLen <= 0) out = '0.' + '0'.repeat(-intLen) + digits;
  else if (intLen >= digits.length) out = digits + '0'.repeat(intLen - digits.length);
  else out = digits.slice(0, intLen) + '.' + digits.slice(intLen);
  return neg ? '-' + out : out;
}
