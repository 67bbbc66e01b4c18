/**
 * Influx line protocol at `POST /api/v2/write` (InfluxDB 2 style: `?precision=ns|us|ms|s`, default
 * ns; `org`/`bucket` are accepted and ignored) and `POST /write` (InfluxDB 1 style:
 * `?precision=n|ns|u|us|ms|s|m|h`, `db`/`rp` ignored). Body: text, any content type,
 * `Content-Encoding: gzip` accepted (bounded by the body limit after decompression).
 *
 * Grammar (docs.influxdata.com/influxdb/v2/reference/syntax/line-protocol):
 *
 *     line      = measurement ("," tag_key "=" tag_value)* " "+ field ("," field)* (" "+ timestamp)? " "*
 *     field     = field_key "=" ( float | integer "i" | uinteger "u" | boolean | '"' string '"' )
 *     comments  = lines starting with "#"; blank lines are skipped; "\r\n" ends a line too
 *     escapes   = measurement: "\," "\ "; tag keys, tag values, field keys: "\," "\=" "\ ";
 *                 string field values: '\"' "\\"; "\\" is one backslash everywhere; any other
 *                 backslash is literal. A quoted string may span lines.
 *
 * Mapping (as Telegraf's Prometheus output does; README "Naming rules"):
 * - one sample per numeric field: metric `<measurement>_<field>` (just `<field>` when the
 *   measurement is `prometheus`), characters outside `[a-zA-Z0-9_:]` → `_`;
 * - tags → labels (names sanitised the same way, values as they are);
 * - float, integer (`1i`) and unsigned (`1u`) values as numbers (integers beyond 2^53 lose
 *   precision); booleans → 1/0; string fields are refused per field ("string values are not
 *   supported"), the line's other fields are kept;
 * - no timestamp → the server's clock.
 *
 * Item index = 1-based line number. A syntax error refuses its line (`line 7 col 12: ...`); a bad
 * field value refuses that field (`line 7 field "status"`); the other lines and fields are kept.
 *
 * Answers: 204 when everything was stored; otherwise 400 with InfluxDB's error body
 * `{"code":"invalid","message":"...","line":N}` (v1: `{"error":"..."}`) plus
 * `accepted`, `duplicates`, `rejectedTotal` and the first 1000 refusals in `rejected`
 * (`{index: line, code, reason, where}`) — the good lines ARE stored, do not resend. 413 over the body limit, 503/429 with Retry-After when overloaded (retried by clients).
 */
import type { FastifyInstance } from 'fastify';
import { seriesKey } from '../../common/index.js';
import { IngestError } from '../errors.js';
import { admitHook, type IngestRouteDeps } from '../http-json.js';
import type { RejectCode, Sample } from '../types.js';
import { checkLabels, checkMetricName, checkTimestamp, checkValue, type SampleLimits } from '../validate.js';
import {
  clip,
  formatProblems,
  gunzipRequestBody,
  rawBufferParser,
  submitBatch,
  type DecodedBatch,
  type LocatedRejection,
} from './common.js';
import { influxLabelName, influxMetricName } from './names.js';

/** Timestamp unit of a write. */
export type InfluxPrecision = 'ns' | 'us' | 'ms' | 's' | 'm' | 'h';

const V2_PRECISION: Readonly<Record<string, InfluxPrecision>> = { ns: 'ns', us: 'us', ms: 'ms', s: 's' };
const V1_PRECISION: Readonly<Record<string, InfluxPrecision>> = {
  n: 'ns',
  ns: 'ns',
  u: 'us',
  us: 'us',
  ms: 'ms',
  s: 's',
  m: 'm',
  h: 'h',
};

/**
 * Parses the `precision` query parameter (undefined → ns).
 * @throws IngestError `INGEST_BAD_REQUEST` for any other value
 */
export function parseInfluxPrecision(value: unknown, v1: boolean): InfluxPrecision {
  if (value === undefined || value === '') return 'ns';
  const table = v1 ? V1_PRECISION : V2_PRECISION;
  const p = typeof value === 'string' ? table[value] : undefined;
  if (p === undefined)
    throw new IngestError(
      'INGEST_BAD_REQUEST',
      `precision ${JSON.stringify(value)} is not supported; use one of ${Object.keys(table).join(', ')}`,
    );
  return p;
}

// Character codes.
const NL = 10;
const CR = 13;
const SP = 32;
const TAB = 9;
const COMMA = 44;
const EQ = 61;
const QUOTE = 34;
const BSLASH = 92;
const HASH = 35;

/** A line-level syntax error: `col` is 1-based within the line. */
class LineError {
  constructor(
    readonly col: number,
    readonly message: string,
  ) {}
}

/** Parser state for one body (decoding is synchronous; one instance per call). */
class Parser {
  pos = 0;
  line = 1;
  lineStart = 0;
  /** Set by scanToken: whether the token had escapes (then it needs unescaping). */
  escaped = false;
  // Fields of the current line.
  fKeys: string[] = [];
  fVals: number[] = [];
  fErr: string[] = [];
  nFields = 0;

  constructor(readonly s: string) {}

  err(at: number, message: string): LineError {
    return new LineError(at - this.lineStart + 1, message);
  }

  /**
   * Scans a measurement / tag key / tag value / field key from `pos` until an unescaped stop
   * character: space, comma, newline (always), `=` when `stopAtEq`. Leaves `pos` on the stop.
   */
  scanToken(stopAtEq: boolean): string {
    const s = this.s;
    const start = this.pos;
    let i = start;
    let escaped = false;
    const n = s.length;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c === BSLASH && i + 1 < n) {
        // A newline is never escaped outside strings: it always ends the line.
        const d = s.charCodeAt(i + 1);
        if (d !== NL && d !== CR) {
          escaped = true;
          i += 2;
          continue;
        }
      }
      if (c === SP || c === COMMA || c === NL || (stopAtEq && c === EQ)) break;
      if (c === CR && i + 1 < n && s.charCodeAt(i + 1) === NL) break;
      i++;
    }
    this.pos = i;
    this.escaped = escaped;
    const raw = s.slice(start, i);
    return escaped ? unescapeToken(raw) : raw;
  }

  atLineEnd(): boolean {
    const s = this.s;
    const i = this.pos;
    if (i >= s.length) return true;
    const c = s.charCodeAt(i);
    return c === NL || (c === CR && i + 1 < s.length && s.charCodeAt(i + 1) === NL);
  }

  skipSpaces(): void {
    const s = this.s;
    while (this.pos < s.length && s.charCodeAt(this.pos) === SP) this.pos++;
  }

  /** Moves past the end of the current physical line (used after an error). */
  skipRestOfLine(): void {
    const s = this.s;
    const nl = s.indexOf('\n', this.pos);
    this.pos = nl < 0 ? s.length : nl;
  }

  /** Consumes the newline at `pos`, if any, and starts the next line. */
  nextLine(): void {
    const s = this.s;
    if (this.pos < s.length && s.charCodeAt(this.pos) === CR) this.pos++;
    if (this.pos < s.length && s.charCodeAt(this.pos) === NL) {
      this.pos++;
      this.line++;
    }
    this.lineStart = this.pos;
  }

  /** Parses a field value at `pos`; returns the number or a refusal reason for this field. */
  fieldValue(): number | string | LineError {
    const s = this.s;
    if (s.charCodeAt(this.pos) === QUOTE) {
      // A string: scan to the closing quote (may span lines); refused per field.
      let i = this.pos + 1;
      for (;;) {
        if (i >= s.length) return this.err(this.pos, 'unterminated string field value');
        const c = s.charCodeAt(i);
        if (c === BSLASH) {
          if (s.charCodeAt(i + 1) === NL) this.line++;
          i += 2;
        } else if (c === QUOTE) break;
        else {
          if (c === NL) this.line++;
          i++;
        }
      }
      this.pos = i + 1;
      return 'string values are not supported (only float, integer, unsigned and boolean fields become samples)';
    }
    const start = this.pos;
    let i = start;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === SP || c === COMMA || c === NL || c === CR) break;
      i++;
    }
    this.pos = i;
    const tok = s.slice(start, i);
    if (tok === '') return this.err(start, 'missing field value');
    return parseFieldValue(tok);
  }
}

const FLOAT = /^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;
const INT = /^-?\d+i$/;
const UINT = /^\d+u$/;
const DIGITS = /^-?\d+$/;
const INT64_MAX = '9223372036854775807';
const UINT64_MAX = '18446744073709551615';

/** A field value token → number, or the reason it is refused. */
function parseFieldValue(tok: string): number | string {
  const last = tok.charCodeAt(tok.length - 1);
  if (last === 105 /* i */ && INT.test(tok)) {
    const digits = tok.slice(tok.startsWith('-') ? 1 : 0, -1);
    if (exceeds(digits, INT64_MAX) && !(tok.startsWith('-') && digits === '9223372036854775808'))
      return `integer ${tok} is out of the int64 range`;
    return Number(tok.slice(0, -1));
  }
  if (last === 117 /* u */ && UINT.test(tok)) {
    if (exceeds(tok.slice(0, -1), UINT64_MAX)) return `unsigned integer ${tok} is out of the uint64 range`;
    return Number(tok.slice(0, -1));
  }
  switch (tok) {
    case 't':
    case 'T':
    case 'true':
    case 'True':
    case 'TRUE':
      return 1;
    case 'f':
    case 'F':
    case 'false':
    case 'False':
    case 'FALSE':
      return 0;
  }
  if (FLOAT.test(tok)) return Number(tok);
  return `invalid field value ${JSON.stringify(clip(tok, 40))} (expected a float, 1i, 1u, a boolean or a quoted string)`;
}

/** Whether decimal `digits` (no sign, maybe leading zeros) is greater than `max`. */
function exceeds(digits: string, max: string): boolean {
  const d = digits.replace(/^0+(?=\d)/, '');
  return d.length > max.length || (d.length === max.length && d > max);
}

/** Removes line-protocol escapes: `\\`, `\,`, `\=`, `\ ` (`\"` too, harmless); other backslashes stay. */
function unescapeToken(raw: string): string {
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === BSLASH && i + 1 < raw.length) {
      const d = raw.charCodeAt(i + 1);
      if (d === BSLASH || d === COMMA || d === EQ || d === SP || d === QUOTE) {
        out += raw[i + 1];
        i++;
        continue;
      }
    }
    out += raw[i];
  }
  return out;
}

/** Epoch ms from a line-protocol timestamp in `precision`; exact (no float division). */
function timestampMs(digits: string, precision: InfluxPrecision): number {
  const neg = digits.charCodeAt(0) === 45;
  const abs = neg ? digits.slice(1) : digits;
  let ms: number;
  switch (precision) {
    case 'ns':
      ms = abs.length > 6 ? Number(abs.slice(0, abs.length - 6)) : 0;
      break;
    case 'us':
      ms = abs.length > 3 ? Number(abs.slice(0, abs.length - 3)) : 0;
      break;
    case 'ms':
      ms = Number(abs);
      break;
    case 's':
      ms = Number(abs) * 1000;
      break;
    case 'm':
      ms = Number(abs) * 60_000;
      break;
    case 'h':
      ms = Number(abs) * 3_600_000;
      break;
  }
  return neg ? -ms : ms;
}

/**
 * Decodes a line-protocol body into checked samples (item index = 1-based line number).
 *
 * @param body - the text (a Buffer is read as UTF-8)
 * @param nowMs - server clock, epoch ms: timestamp of lines without one, and the future-skew check
 * @param maxSamples - more fields than this → IngestError `INGEST_TOO_MANY_SAMPLES`
 * @param precision - unit of the timestamps @defaultValue 'ns'
 * @throws IngestError and nothing else
 */
export function decodeInflux(
  body: string | Uint8Array,
  nowMs: number,
  limits: SampleLimits,
  maxSamples: number,
  precision: InfluxPrecision = 'ns',
): DecodedBatch {
  const text =
    typeof body === 'string'
      ? body
      : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  const p = new Parser(text);
  const samples: Sample[] = [];
  const indices: number[] = [];
  const rejected: LocatedRejection[] = [];
  let count = 0;
  const s = text;
  const n = s.length;
  while (p.pos < n) {
    // Leading blanks, blank lines and comments.
    while (p.pos < n && (s.charCodeAt(p.pos) === SP || s.charCodeAt(p.pos) === TAB)) p.pos++;
    if (p.atLineEnd()) {
      if (p.pos >= n) break;
      p.nextLine();
      continue;
    }
    if (s.charCodeAt(p.pos) === HASH) {
      p.skipRestOfLine();
      p.nextLine();
      continue;
    }
    const lineNo = p.line;
    const r = parseLine(p, precision, nowMs);
    if (r instanceof LineError) {
      rejected.push({
        index: lineNo,
        code: 'INVALID_SAMPLE',
        reason: `col ${r.col}: ${r.message}`,
        where: `line ${lineNo}`,
      });
      p.skipRestOfLine();
      p.nextLine();
      continue;
    }
    count += p.nFields;
    if (count > maxSamples)
      throw new IngestError(
        'INGEST_TOO_MANY_SAMPLES',
        `more than ${maxSamples} samples (fields) in one request`,
        { limit: maxSamples },
      );
    emitLine(p, r, lineNo, nowMs, limits, samples, indices, rejected);
    p.nextLine();
  }
  return { samples, indices, rejected, skipped: 0 };
}

interface ParsedLine {
  measurement: string;
  tagKeys: string[];
  tagVals: string[];
  /** Epoch ms, or the reason the timestamp is refused (the whole line). */
  ts: number | string;
}

function parseLine(p: Parser, precision: InfluxPrecision, nowMs: number): ParsedLine | LineError {
  const s = p.s;
  const mStart = p.pos;
  const measurement = p.scanToken(false);
  if (measurement === '') return p.err(mStart, 'missing measurement');
  const tagKeys: string[] = [];
  const tagVals: string[] = [];
  while (p.pos < s.length && s.charCodeAt(p.pos) === COMMA) {
    p.pos++;
    const kStart = p.pos;
    const key = p.scanToken(true);
    if (p.pos >= s.length || s.charCodeAt(p.pos) !== EQ)
      return p.err(p.pos, `tag key ${JSON.stringify(clip(key, 40))} is not followed by "="`);
    if (key === '') return p.err(kStart, 'empty tag key');
    p.pos++;
    const vStart = p.pos;
    const value = p.scanToken(false);
    if (value === '') return p.err(vStart, `tag ${JSON.stringify(clip(key, 40))} has an empty value`);
    tagKeys.push(key);
    tagVals.push(value);
  }
  if (p.atLineEnd()) return p.err(p.pos, 'missing fields (expected a space then field=value)');
  if (s.charCodeAt(p.pos) !== SP)
    return p.err(p.pos, `unexpected ${JSON.stringify(s[p.pos])} after the measurement and tags`);
  p.skipSpaces();
  if (p.atLineEnd()) return p.err(p.pos, 'missing fields');
  p.nFields = 0;
  for (;;) {
    const kStart = p.pos;
    const key = p.scanToken(true);
    if (p.pos >= s.length || s.charCodeAt(p.pos) !== EQ)
      return p.err(p.pos, `field key ${JSON.stringify(clip(key, 40))} is not followed by "="`);
    if (key === '') return p.err(kStart, 'empty field key');
    p.pos++;
    const v = p.fieldValue();
    if (v instanceof LineError) return v;
    const i = p.nFields++;
    p.fKeys[i] = key;
    if (typeof v === 'number') {
      p.fVals[i] = v;
      p.fErr[i] = '';
    } else {
      p.fVals[i] = NaN;
      p.fErr[i] = v;
    }
    if (p.pos < s.length && s.charCodeAt(p.pos) === COMMA) {
      p.pos++;
      continue;
    }
    break;
  }
  let ts: number | string = nowMs;
  if (!p.atLineEnd()) {
    if (s.charCodeAt(p.pos) !== SP)
      return p.err(p.pos, `unexpected ${JSON.stringify(s[p.pos])} after the fields`);
    p.skipSpaces();
    if (!p.atLineEnd()) {
      const tStart = p.pos;
      while (p.pos < s.length) {
        const c = s.charCodeAt(p.pos);
        if (c === SP || c === NL || c === CR) break;
        p.pos++;
      }
      const tok = s.slice(tStart, p.pos);
      p.skipSpaces();
      if (!p.atLineEnd()) return p.err(p.pos, 'unexpected text after the timestamp');
      if (!DIGITS.test(tok))
        return p.err(tStart, `timestamp ${JSON.stringify(clip(tok, 40))} is not an integer`);
      const digits = tok.startsWith('-') ? tok.slice(1) : tok;
      if (exceeds(digits, INT64_MAX)) return p.err(tStart, `timestamp ${tok} is out of the int64 range`);
      ts = timestampMs(tok, precision);
    }
  }
  return { measurement, tagKeys, tagVals, ts };
}

function emitLine(
  p: Parser,
  line: ParsedLine,
  lineNo: number,
  nowMs: number,
  limits: SampleLimits,
  samples: Sample[],
  indices: number[],
  rejected: LocatedRejection[],
): void {
  const where = `line ${lineNo}`;
  // Tags → labels (sanitised names; two tags may not land on one label).
  const raw: Record<string, string> = {};
  const from: Record<string, string> = {};
  for (let i = 0; i < line.tagKeys.length; i++) {
    const key = line.tagKeys[i] as string;
    const name = influxLabelName(key);
    if (Object.prototype.hasOwnProperty.call(from, name)) {
      const other = from[name] as string;
      return refuseLine(
        p,
        lineNo,
        rejected,
        'INVALID_NAME',
        other === key
          ? `duplicate tag ${JSON.stringify(key)}`
          : `tags ${JSON.stringify(other)} and ${JSON.stringify(key)} both map to label ${JSON.stringify(name)}`,
      );
    }
    from[name] = key;
    raw[name] = line.tagVals[i] as string;
  }
  const l = checkLabels(raw, limits);
  if (!l.ok) return refuseLine(p, lineNo, rejected, l.code, l.reason);
  const t = checkTimestamp(line.ts, nowMs, limits);
  if (!t.ok) return refuseLine(p, lineNo, rejected, t.code, t.reason);
  const labels = l.labels;
  // Series keys share the label part: seriesKey(name, labels) = name + seriesKey('', labels).
  const suffix = seriesKey('', labels);
  for (let i = 0; i < p.nFields; i++) {
    const key = p.fKeys[i] as string;
    const fwhere = `${where} field ${JSON.stringify(clip(key, 60))}`;
    const err = p.fErr[i] as string;
    if (err !== '') {
      rejected.push({ index: lineNo, code: 'INVALID_SAMPLE', reason: err, where: fwhere });
      continue;
    }
    let dup = false;
    for (let j = 0; j < i; j++) if (p.fKeys[j] === key) dup = true;
    if (dup) {
      rejected.push({
        index: lineNo,
        code: 'INVALID_SAMPLE',
        reason: 'duplicate field in the line',
        where: fwhere,
      });
      continue;
    }
    const metric = influxMetricName(line.measurement, key);
    const m = checkMetricName(metric, limits);
    if (m) {
      rejected.push({ index: lineNo, code: m.code, reason: m.reason, where: fwhere });
      continue;
    }
    const value = p.fVals[i] as number;
    const v = checkValue(value);
    if (v) {
      rejected.push({ index: lineNo, code: v.code, reason: v.reason, where: fwhere });
      continue;
    }
    samples.push({ metric, labels, key: metric + suffix, ts: t.ts, value });
    indices.push(lineNo);
  }
}

function refuseLine(
  p: Parser,
  lineNo: number,
  rejected: LocatedRejection[],
  code: RejectCode,
  reason: string,
): void {
  const n = p.nFields;
  rejected.push({
    index: lineNo,
    code,
    reason: `${reason} (${n} field${n === 1 ? '' : 's'} refused)`,
    where: `line ${lineNo}`,
  });
}

/** Refusals listed one by one in a 400 body (all are counted in `rejectedTotal`). */
const MAX_LISTED = 1000;

/** Where a sample refused by the sink came from. */
export function describeInfluxItem(index: number, sample: Sample): string {
  return `line ${index} ${clip(sample.key)}`;
}

/**
 * Registers `POST /api/v2/write` and `POST /write` in an encapsulated child context (a catch-all
 * content-type parser stays local to it: Influx clients send text/plain, or nothing useful; the
 * app's hooks, e.g. authentication, and error handler apply). Call before `app.ready()`.
 */
export function registerInflux(app: FastifyInstance, deps: IngestRouteDeps): void {
  const bodyLimit = app.initialConfig.bodyLimit ?? 1024 * 1024;
  void app.register((child, _o, done) => {
    child.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit }, rawBufferParser);
    for (const v1 of [false, true]) {
      child.post(
        v1 ? '/write' : '/api/v2/write',
        { onRequest: admitHook(deps, 'influx'), preParsing: gunzipRequestBody },
        async (req, reply) => {
          const query = (req.query ?? {}) as Record<string, unknown>;
          const precision = parseInfluxPrecision(query['precision'], v1);
          const body = req.body;
          const input = typeof body === 'string' ? body : Buffer.isBuffer(body) ? body : '';
          const batch = decodeInflux(input, deps.now(), deps.limits, deps.maxSamplesPerRequest, precision);
          const outcome = await submitBatch(deps, 'influx', batch, describeInfluxItem);
          if (outcome.rejected.length === 0) return reply.code(204).send();
          const first = outcome.rejected[0] as LocatedRejection;
          const message =
            `partial write: ${outcome.rejected.length} problem(s), ${outcome.accepted} samples accepted and stored ` +
            `(do not resend):\n${formatProblems(outcome.rejected)}`;
          const detail = {
            line: first.index,
            accepted: outcome.accepted,
            duplicates: outcome.duplicates,
            rejectedTotal: outcome.rejected.length,
            rejected: outcome.rejected.slice(0, MAX_LISTED),
          };
          return reply
            .code(400)
            .type('application/json')
            .send(v1 ? { error: message, ...detail } : { code: 'invalid', message, ...detail });
        },
      );
    }
    done();
  });
}
