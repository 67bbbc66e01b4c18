/**
 * Prometheus-style durations ("1h30m", "500ms", "7d", "2w"), as Alertmanager writes them.
 * Units: ms, s, m, h, d, w, y (365 d). Parsed into milliseconds.
 */
const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** JSON-schema pattern that {@link parseDurationMs} accepts. */
export const DURATION_PATTERN = '^(0|([0-9]+(ms|s|m|h|d|w|y))+)$';

const PART = /([0-9]+)(ms|s|m|h|d|w|y)/g;

/**
 * Parses a duration into milliseconds.
 * @returns the duration in ms, or undefined when `text` is not a duration.
 */
export function parseDurationMs(text: string): number | undefined {
  if (text === '0') return 0;
  if (!new RegExp(DURATION_PATTERN).test(text)) return undefined;
  let total = 0;
  for (const m of text.matchAll(PART)) total += Number(m[1]) * (UNIT_MS[m[2] ?? ''] ?? 0);
  return total;
}

/** Like {@link parseDurationMs} for values a schema has already validated; throws RangeError otherwise. */
export function durationMs(text: string): number {
  const ms = parseDurationMs(text);
  if (ms === undefined) throw new RangeError(`not a duration: ${JSON.stringify(text)}`);
  return ms;
}

/** Formats milliseconds the way Prometheus does ("1h30m", "250ms", "0s"). */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = Math.round(ms);
  let out = '';
  for (const [unit, size] of [
    ['w', 604_800_000],
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1_000],
    ['ms', 1],
  ] as const) {
    if (rest >= size) {
      out += `${Math.floor(rest / size)}${unit}`;
      rest %= size;
    }
  }
  return out;
}
