/**
 * Loads a YAML config with positions: parse (yaml, unique keys), resolve secrets (`${ENV}` in any
 * string, `<name>_file: path` for any key), validate against a JSON schema (unknown keys are
 * errors, defaults filled in), run semantic checks, and report every problem at once as one
 * {@link ConfigError} whose lines read `file:line:col CODE message`. The result is deep-frozen.
 *
 * Generic over the schema: src/app/config.ts assembles Vigil's schema from the modules' sections.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import type { TSchema, Static } from '@sinclair/typebox';
import { isMap, isScalar, isSeq, LineCounter, parseDocument, visit, type Document, type Node } from 'yaml';

export type ConfigIssueCode =
  | 'YAML_SYNTAX'
  | 'UNKNOWN_KEY'
  | 'MISSING_KEY'
  | 'INVALID_VALUE'
  | 'INVALID_TYPE'
  | 'ENV_MISSING'
  | 'SECRET_FILE'
  | 'UNKNOWN_RECEIVER'
  | 'UNKNOWN_REFERENCE'
  | 'DUPLICATE_NAME'
  | 'CONFLICT'
  | 'FILE_READ';

/** One problem, pointing at the exact YAML node (1-based line and column). */
export interface ConfigIssue {
  readonly code: ConfigIssueCode;
  readonly file: string;
  readonly line: number;
  readonly col: number;
  /** Dotted path of the offending value, e.g. `alerting.route.routes[2].receiver`. */
  readonly path: string;
  /** What was found and what was expected. */
  readonly message: string;
}

/** Every problem of one config file. The message has one `file:line:col CODE message` line per issue. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
  }
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.col} ${i.code} ${i.message}`;
}

/** A semantic problem found by a module's check, with a path relative to the config root. */
export interface SemanticIssue {
  readonly path: readonly (string | number)[];
  readonly code: ConfigIssueCode;
  readonly message: string;
}

export interface LoadOptions<T> {
  /** Name used in issue positions (usually the path as given). */
  readonly file: string;
  readonly text: string;
  /** Directory relative `*_file` paths resolve against. */
  readonly baseDir: string;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Checks that need the whole validated config (references between sections and so on). */
  readonly check?: (config: T) => readonly SemanticIssue[];
}

type PathSeg = string | number;

/** Schema keyword marking a value as secret: redacted from logs, errors and the config view. */
export const SECRET_KEYWORD = 'x-secret';

const ajvCache = new WeakMap<TSchema, ReturnType<Ajv['compile']>>();
function validatorFor(schema: TSchema): ReturnType<Ajv['compile']> {
  let v = ajvCache.get(schema);
  if (!v) {
    const ajv = new Ajv({ allErrors: true, useDefaults: true, coerceTypes: false, strict: false });
    ajv.addKeyword({ keyword: SECRET_KEYWORD, schemaType: 'boolean' });
    v = ajv.compile(schema);
    ajvCache.set(schema, v);
  }
  return v;
}

/** Loads and validates `opts.text` against `schema`. Throws {@link ConfigError} listing every problem. */
export function loadConfigText<S extends TSchema>(schema: S, opts: LoadOptions<Static<S>>): Static<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(opts.text, { lineCounter, uniqueKeys: true, prettyErrors: false, merge: true });
  const issues: ConfigIssue[] = [];
  const at = (offset: number): { line: number; col: number } => {
    const p = lineCounter.linePos(offset);
    return { line: p.line, col: p.col };
  };
  for (const e of [...doc.errors, ...doc.warnings]) {
    const pos = at(e.pos[0]);
    const message = e.message.split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '') ?? e.message;
    issues.push({
      code: 'YAML_SYNTAX',
      file: opts.file,
      ...pos,
      path: '',
      message: `${message} (${e.code})`,
    });
  }
  if (issues.length > 0) throw new ConfigError(issues);

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    // Unresolvable or excessive aliases: yaml throws while building values. Point at the first alias.
    let offset = 0;
    visit(doc, {
      Alias(_key, node) {
        offset = node.range?.[0] ?? 0;
        return visit.BREAK;
      },
    });
    issues.push({
      code: 'YAML_SYNTAX',
      file: opts.file,
      ...at(offset),
      path: '',
      message: (err as Error).message,
    });
    throw new ConfigError(issues);
  }
  const locate = (path: readonly PathSeg[], key = false): { line: number; col: number } =>
    at(offsetOf(doc, path, key));
  const push = (code: ConfigIssueCode, path: readonly PathSeg[], message: string, key = false): void => {
    issues.push({ code, file: opts.file, ...locate(path, key), path: formatPath(path), message });
  };

  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    push('INVALID_TYPE', [], 'the config must be a mapping of sections');
    throw new ConfigError(issues);
  }
  const data = resolveSecrets(raw, [], opts, push);

  const validate = validatorFor(schema);
  if (!validate(data)) {
    for (const e of validate.errors ?? []) addSchemaIssue(e, push);
  }
  if (opts.check) {
    // Semantic checks run even when the schema found problems elsewhere, so one pass reports
    // everything. On data the schema rejected, a check may trip over a wrong shape: then only the
    // schema's findings are reported.
    const hadSchemaIssues = issues.length > 0;
    try {
      for (const s of opts.check(data)) push(s.code, s.path, s.message);
    } catch (err) {
      if (!hadSchemaIssues) throw err;
    }
  }
  if (issues.length > 0) throw new ConfigError(dedupe(issues));
  return deepFreeze(data);
}

/** Reads `file` and loads it (see {@link loadConfigText}). A missing file is a ConfigError too. */
export function loadConfigFile<S extends TSchema>(
  schema: S,
  file: string,
  env: Readonly<Record<string, string | undefined>>,
  check?: (config: Static<S>) => readonly SemanticIssue[],
): Static<S> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new ConfigError([
      {
        code: 'FILE_READ',
        file,
        line: 1,
        col: 1,
        path: '',
        message: `cannot read the config file (${reason})`,
      },
    ]);
  }
  return loadConfigText(schema, {
    file,
    text,
    baseDir: dirname(resolve(file)),
    env,
    ...(check ? { check } : {}),
  });
}

function addSchemaIssue(
  e: ErrorObject,
  push: (code: ConfigIssueCode, path: readonly PathSeg[], message: string, key?: boolean) => void,
): void {
  const path = pointerToPath(e.instancePath);
  const where = formatPath(path) || 'the config';
  switch (e.keyword) {
    case 'additionalProperties': {
      const key = String((e.params as { additionalProperty: string }).additionalProperty);
      push('UNKNOWN_KEY', [...path, key], `unknown key "${key}" in ${where}`, true);
      return;
    }
    case 'required': {
      const key = String((e.params as { missingProperty: string }).missingProperty);
      push('MISSING_KEY', path, `${where} is missing the required key "${key}"`);
      return;
    }
    case 'type':
      push('INVALID_TYPE', path, `${where} must be ${article(String((e.params as { type: string }).type))}`);
      return;
    case 'enum':
      push(
        'INVALID_VALUE',
        path,
        `${where} must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`,
      );
      return;
    case 'pattern':
      push('INVALID_VALUE', path, `${where} ${describePattern((e.params as { pattern: string }).pattern)}`);
      return;
    case 'anyOf':
    case 'oneOf':
      push('INVALID_VALUE', path, `${where} does not match any allowed form`);
      return;
    default:
      push('INVALID_VALUE', path, `${where} ${e.message ?? 'is invalid'}`);
  }
}

function describePattern(pattern: string): string {
  if (pattern.includes('ms|s|m|h|d|w|y')) return 'must be a duration such as 30s, 5m, 1h30m';
  return `must match ${pattern}`;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** Dedupes issues at the same place with the same code (anyOf branches repeat themselves). */
function dedupe(issues: ConfigIssue[]): ConfigIssue[] {
  const seen = new Set<string>();
  return issues
    .filter((i) => {
      const k = `${i.line}:${i.col}:${i.code}:${i.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.line - b.line || a.col - b.col);
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Replaces `${NAME}` from the environment and `<key>_file: path` by the file's trimmed content. */
function resolveSecrets(
  value: unknown,
  path: PathSeg[],
  opts: { baseDir: string; env: Readonly<Record<string, string | undefined>> },
  push: (code: ConfigIssueCode, path: readonly PathSeg[], message: string, key?: boolean) => void,
): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string) => {
      const v = opts.env[name];
      if (v === undefined) {
        push('ENV_MISSING', path, `environment variable ${name} is not set (referenced as \${${name}})`);
        return '';
      }
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => resolveSecrets(v, [...path, i], opts, push));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    const obj = value as Record<string, unknown>;
    for (const [k, v] of Object.entries(obj)) {
      if (
        k.endsWith('_file') &&
        typeof v === 'string' &&
        k !== 'key_file' &&
        k !== 'cert_file' &&
        k !== 'ca_file'
      ) {
        const target = k.slice(0, -'_file'.length);
        if (target in obj) {
          push('CONFLICT', [...path, k], `set either "${target}" or "${k}", not both`, true);
          continue;
        }
        const p = resolve(opts.baseDir, resolveSecrets(v, [...path, k], opts, push) as string);
        try {
          out[target] = readFileSync(p, 'utf8').trim();
        } catch (err) {
          push(
            'SECRET_FILE',
            [...path, k],
            `cannot read ${k} ${p} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
          );
        }
        continue;
      }
      out[k] = resolveSecrets(v, [...path, k], opts, push);
    }
    return out;
  }
  return value;
}

function pointerToPath(pointer: string): PathSeg[] {
  if (!pointer) return [];
  return pointer
    .split('/')
    .slice(1)
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s));
}

/** `alerting.route.routes[2].receiver` */
export function formatPath(path: readonly PathSeg[]): string {
  let out = '';
  for (const seg of path) out += typeof seg === 'number' ? `[${seg}]` : out ? `.${seg}` : seg;
  return out;
}

/**
 * Offset of the node at `path`, or of its nearest existing ancestor. With `key`, the offset of the
 * map key itself (for unknown keys). A `<name>` produced from `<name>_file` maps back to that key.
 */
function offsetOf(doc: Document, path: readonly PathSeg[], key: boolean): number {
  let node: unknown = doc.contents;
  let best = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const seg = path[i] as PathSeg;
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair =
        node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(seg)) ??
        node.items.find((p) => isScalar(p.key) && String(p.key.value) === `${String(seg)}_file`);
      if (!pair) return best;
      if (last && key) return rangeStart(pair.key) ?? best;
      node = pair.value;
      best = rangeStart(node) ?? rangeStart(pair.key) ?? best;
    } else if (isSeq(node)) {
      const item = node.items[Number(seg)];
      if (item === undefined) return best;
      node = item;
      best = rangeStart(node) ?? best;
    } else return best;
  }
  return best;
}

function rangeStart(node: unknown): number | undefined {
  const r = (node as Node | null | undefined)?.range;
  return r ? r[0] : undefined;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}

/** Replaces every value whose schema is marked secret with "<secret>" (for logs and the config view). */
export function redactSecrets(schema: TSchema, value: unknown): unknown {
  const s = schema as Record<string, unknown>;
  if (s[SECRET_KEYWORD] === true && value !== undefined) return '<secret>';
  if (Array.isArray(value)) {
    const items = s['items'] as TSchema | undefined;
    return (value as unknown[]).map((v) => (items ? redactSecrets(items, v) : v));
  }
  if (value !== null && typeof value === 'object') {
    const props = (s['properties'] ?? {}) as Record<string, TSchema>;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      const sub = props[k] ?? (s['additionalProperties'] as TSchema | undefined);
      out[k] = sub && typeof sub === 'object' ? redactSecrets(sub, v) : v;
    }
    return out;
  }
  for (const key of ['anyOf', 'oneOf'] as const) {
    if (Array.isArray(s[key])) {
      for (const alt of s[key] as TSchema[])
        if ((alt as Record<string, unknown>)[SECRET_KEYWORD]) return '<secret>';
    }
  }
  return value;
}
