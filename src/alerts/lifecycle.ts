/**
 * Per-series alert lifecycle (pure; runs inside the keyed operator, in event time). Two layers:
 *
 * 1. The condition, with hysteresis:
 *
 *        inactive ──anomalous──▶ pending ──anomalous for `for`──▶ firing ◀──sustained──┐
 *           ▲                       │ a normal sample               │ not sustained    │
 *           └───────────────────────┘                               ▼                  │
 *           └──── no sustained sample for `keep_firing_for` ─── recovering ────────────┘
 *
 *    A sample is *anomalous* when its score ≥ `threshold` and it deviates in the configured
 *    `direction` (`above`: actual > expected, `below`: actual < expected, `both`). While firing,
 *    a sample is *sustained* when its score ≥ `recovery_threshold` (≤ threshold; Grafana's
 *    custom recovery threshold). With `for` = 0 the first anomalous sample fires; with
 *    `keep_firing_for` = 0 the first non-sustained sample resolves.
 *
 * 2. Flapping (after Kibana's flapping settings, in event time): every firing and resolved
 *    transition of the condition is counted; when `flapping.transitions` of them fall within
 *    `flapping.window`, the alert *flaps*. A flapping alert is held firing: its condition's
 *    further resolves and re-fires are not emitted (so receivers get no resolved/firing churn
 *    and the dispatcher sends no repeat reminders for it). It stops flapping once the condition
 *    has made no transition for `flapping.window`: it then resolves (condition normal) or goes
 *    on firing as an ordinary alert (condition still anomalous). Both changes are emitted with
 *    the `flapping` flag, so the API and history show them.
 *
 * What receivers see is the emitted status: pending (listed, never notified), firing, resolved.
 */
import { fnv1a64Hex } from '../common/index.js';
import type { AlertState } from './types.js';

/** Flapping detection parameters. */
export interface FlappingParams {
  readonly enabled: boolean;
  /** Transitions within `windowMs` that start flapping (≥ 2). */
  readonly transitions: number;
  /** Event-time window, ms; also the calm time that ends flapping. */
  readonly windowMs: number;
}

/** Lifecycle parameters for one series (after route overrides). */
export interface LifecycleParams {
  /** Event time an anomaly must persist before firing, ms. */
  readonly forMs: number;
  /** Event time without sustained samples before a firing alert resolves, ms. */
  readonly keepFiringForMs: number;
  /** Score in [0,1] at or above which a sample is anomalous. */
  readonly threshold: number;
  /** Score at or above which a firing alert stays firing (≤ threshold). */
  readonly recoveryThreshold: number;
  readonly direction: 'both' | 'above' | 'below';
  readonly flapping: FlappingParams;
}

/** What the lifecycle has emitted last (what receivers see). */
export type EmittedState = 'inactive' | 'pending' | 'firing';

/** One series' lifecycle state: plain numbers, cheap to encode (see {@link encodeLifecycle}). */
export interface LifecycleState {
  /** The condition's state. */
  state: AlertState;
  /** When the condition's current pending/firing episode started (ms), or NaN. */
  startsAt: number;
  /** Event time of the last anomalous (or, while firing, sustained) sample (ms), or NaN. */
  lastAnomalousTs: number;
  emitted: EmittedState;
  /** startsAt of the emitted pending/firing alert (ms), or NaN. */
  emittedStartsAt: number;
  flapping: boolean;
  /** Event times of the condition's latest firing/resolved transitions, oldest first. */
  transitions: number[];
  /** Event time of the condition's last firing/resolved transition (ms), or NaN. */
  lastTransitionTs: number;
}

export function newLifecycleState(): LifecycleState {
  return {
    state: 'inactive',
    startsAt: NaN,
    lastAnomalousTs: NaN,
    emitted: 'inactive',
    emittedStartsAt: NaN,
    flapping: false,
    transitions: [],
    lastTransitionTs: NaN,
  };
}

/** Alert labels of a series: its labels plus `alertname` = metric name. */
export function alertLabels(
  metric: string,
  labels: Readonly<Record<string, string>>,
): Record<string, string> {
  return { ...labels, alertname: metric };
}

/** Alertmanager-style fingerprint: FNV-1a 64 over sorted `name\xffvalue\xff` pairs. */
export function fingerprint(labels: Readonly<Record<string, string>>): string {
  let text = '';
  for (const name of Object.keys(labels).sort()) text += `${name}\xff${labels[name]}\xff`;
  return fnv1a64Hex(text);
}

/** One scored sample. */
export interface LifecycleInput {
  /** Event time, ms. */
  readonly ts: number;
  /** Anomaly score in [0,1]. */
  readonly score: number;
  readonly actual: number;
  /** NaN while the model warms up (direction then does not filter). */
  readonly expected: number;
}

/** A change to emit. */
export interface LifecycleChange {
  readonly status: 'pending' | 'firing' | 'resolved';
  readonly startsAt: number;
  readonly endsAt?: number;
  readonly flapping: boolean;
}

type RawChange = 'pending' | 'pending-cancel' | 'firing' | 'resolved' | undefined;

function deviates(params: LifecycleParams, input: LifecycleInput): boolean {
  if (params.direction === 'both' || !Number.isFinite(input.expected)) return true;
  return params.direction === 'above' ? input.actual > input.expected : input.actual < input.expected;
}

/** Layer 1: the condition with `for`, `keep_firing_for` and the recovery threshold. */
function stepCondition(s: LifecycleState, params: LifecycleParams, input: LifecycleInput): RawChange {
  const ts = input.ts;
  const dev = deviates(params, input);
  const anomalous = dev && input.score >= params.threshold;
  switch (s.state) {
    case 'inactive':
      if (!anomalous) return undefined;
      s.lastAnomalousTs = ts;
      s.startsAt = ts;
      if (params.forMs <= 0) {
        s.state = 'firing';
        return 'firing';
      }
      s.state = 'pending';
      return 'pending';
    case 'pending':
      if (!anomalous) {
        s.state = 'inactive';
        return 'pending-cancel';
      }
      s.lastAnomalousTs = ts;
      if (ts - s.startsAt >= params.forMs) {
        s.state = 'firing';
        s.startsAt = ts;
        return 'firing';
      }
      return undefined;
    case 'firing':
    case 'recovering': {
      const sustained = dev && input.score >= Math.min(params.recoveryThreshold, params.threshold);
      if (sustained) {
        s.lastAnomalousTs = ts;
        s.state = 'firing';
        return undefined;
      }
      if (ts - s.lastAnomalousTs >= params.keepFiringForMs) {
        s.state = 'inactive';
        return 'resolved';
      }
      s.state = 'recovering';
      return undefined;
    }
  }
}

/**
 * Advances the lifecycle by one sample (in event-time order) and returns the change to emit, if
 * any. Mutates `s`.
 */
export function stepLifecycle(
  s: LifecycleState,
  params: LifecycleParams,
  input: LifecycleInput,
): LifecycleChange | undefined {
  const ts = input.ts;
  const raw = stepCondition(s, params, input);
  const flap = params.flapping;
  const transition = raw === 'firing' || raw === 'resolved';
  if (transition && flap.enabled) {
    s.transitions.push(ts);
    while (s.transitions.length > flap.transitions) s.transitions.shift();
    s.lastTransitionTs = ts;
  }

  if (s.flapping) {
    if (!flap.enabled || ts - s.lastTransitionTs >= flap.windowMs) {
      s.flapping = false;
      s.transitions = [];
      if (s.state === 'firing' || s.state === 'recovering') {
        s.emitted = 'firing';
        return { status: 'firing', startsAt: s.emittedStartsAt, flapping: false };
      }
      s.emitted = 'inactive';
      return { status: 'resolved', startsAt: s.emittedStartsAt, endsAt: ts, flapping: false };
    }
    return undefined;
  }

  if (
    transition &&
    flap.enabled &&
    s.transitions.length >= flap.transitions &&
    ts - (s.transitions[0] as number) <= flap.windowMs
  ) {
    s.flapping = true;
    if (s.emitted !== 'firing') {
      // The condition re-fired: a new episode starts, and is held firing from now on.
      s.emitted = 'firing';
      s.emittedStartsAt = s.startsAt;
    }
    // A resolve is swallowed: the episode receivers know about goes on (flapping).
    return { status: 'firing', startsAt: s.emittedStartsAt, flapping: true };
  }

  switch (raw) {
    case undefined:
      return undefined;
    case 'pending':
      s.emitted = 'pending';
      s.emittedStartsAt = s.startsAt;
      return { status: 'pending', startsAt: s.startsAt, flapping: false };
    case 'firing':
      s.emitted = 'firing';
      s.emittedStartsAt = s.startsAt;
      return { status: 'firing', startsAt: s.startsAt, flapping: false };
    case 'pending-cancel':
    case 'resolved': {
      const startsAt = s.emittedStartsAt;
      s.emitted = 'inactive';
      return { status: 'resolved', startsAt, endsAt: ts, flapping: false };
    }
  }
}

const STATES: readonly AlertState[] = ['inactive', 'pending', 'firing', 'recovering'];
const EMITTED: readonly EmittedState[] = ['inactive', 'pending', 'firing'];
const FIXED = 40;

/**
 * Encodes a lifecycle state (little-endian): u8 format (1), u8 state, u8 emitted, u8 flapping,
 * u8 transition count, 3 bytes padding; f64 startsAt, lastAnomalousTs, emittedStartsAt,
 * lastTransitionTs; then one f64 per transition. 40 + 8·n bytes.
 */
export function encodeLifecycle(s: LifecycleState): Uint8Array {
  const bytes = new Uint8Array(lifecycleByteLength(s));
  encodeLifecycleInto(s, bytes, 0);
  return bytes;
}

/** Length of {@link encodeLifecycle}'s output, bytes. */
export function lifecycleByteLength(s: LifecycleState): number {
  return FIXED + 8 * Math.min(s.transitions.length, 255);
}

/** Writes {@link encodeLifecycle}'s output at `out[offset…offset + lifecycleByteLength(s))`. */
export function encodeLifecycleInto(s: LifecycleState, out: Uint8Array, offset: number): void {
  const n = Math.min(s.transitions.length, 255);
  const dv = new DataView(out.buffer, out.byteOffset + offset, FIXED + 8 * n);
  dv.setUint8(0, 1);
  dv.setUint8(1, STATES.indexOf(s.state));
  dv.setUint8(2, EMITTED.indexOf(s.emitted));
  dv.setUint8(3, s.flapping ? 1 : 0);
  dv.setUint8(4, n);
  for (let i = 5; i < 8; i++) dv.setUint8(i, 0);
  dv.setFloat64(8, s.startsAt, true);
  dv.setFloat64(16, s.lastAnomalousTs, true);
  dv.setFloat64(24, s.emittedStartsAt, true);
  dv.setFloat64(32, s.lastTransitionTs, true);
  const first = s.transitions.length - n;
  for (let i = 0; i < n; i++) dv.setFloat64(FIXED + 8 * i, s.transitions[first + i] as number, true);
}

/** Decodes {@link encodeLifecycle}'s output. Throws RangeError on an unknown format. */
export function decodeLifecycle(bytes: Uint8Array): LifecycleState {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < FIXED || dv.getUint8(0) !== 1)
    throw new RangeError('unknown lifecycle state format');
  const n = dv.getUint8(4);
  const transitions: number[] = [];
  for (let i = 0; i < n; i++) transitions.push(dv.getFloat64(FIXED + 8 * i, true));
  return {
    state: STATES[dv.getUint8(1)] ?? 'inactive',
    emitted: EMITTED[dv.getUint8(2)] ?? 'inactive',
    flapping: dv.getUint8(3) === 1,
    startsAt: dv.getFloat64(8, true),
    lastAnomalousTs: dv.getFloat64(16, true),
    emittedStartsAt: dv.getFloat64(24, true),
    lastTransitionTs: dv.getFloat64(32, true),
    transitions,
  };
}
