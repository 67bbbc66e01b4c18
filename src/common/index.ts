/**
 * src/common: the leaf every module may import. Pure helpers with no dependencies and no I/O:
 * durations, series keys, stable hashes. It imports nothing from src/ and must stay small;
 * anything with a concern of its own belongs in its module.
 */
export { DURATION_PATTERN, parseDurationMs, durationMs, formatDuration } from './duration.js';
export { seriesKey, parseSeriesKey, type Labels } from './series-key.js';
export { murmur2, toPositive, fnv1a64Hex } from './hash.js';
