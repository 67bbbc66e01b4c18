/**
 * Per-series engine state: ONE contiguous region of memory (in a slab shared with other series,
 * see {@link StatePool}), viewed as a Float64Array header (scalars, the collapsed model,
 * calibration), a Float32Array of rings (raw history, coarse buckets, the likelihood and
 * level-shift windows, the seasonal residual profile) and a Uint8Array of per-sample score bytes.
 * At the defaults (raw_history 1024, coarse_history 480) the region is 15.5 KB whatever the
 * history fill, and the encoded form is the region plus a 24-byte header (see {@link encodeState}).
 *
 * History layout: the last R raw samples (time offset from `TS_BASE` in seconds and value offset
 * from `V_BASE`, both f32, rebased at each refit so f32 keeps ~7 significant digits of the
 * *variation*); when a raw sample leaves the ring it is averaged into its coarse bucket (epoch-
 * aligned buckets of width W = max(8 samples, 1h)), of which the last C are kept.
 */
import type { DetectionConfig } from './config.js';
import { TAIL_SLOTS } from '../../detectors/index.js';

/**
 * Version of the encoded state; bump on any layout change. 2 added the three cold-start
 * calibration slots (OOS_N, OOS_EXC, OOS_K); version 1 states are migrated on decode.
 */
export const STATE_VERSION = 2;
/** f64 header slots version 2 inserted at {@link OOS_N}. */
const V2_INSERTED = 3;
const MAGIC = 0x56474431; // "VGD1"

// ---- f64 header slots -------------------------------------------------------------------------
export const COUNT = 0; // samples learned
export const LAST_TS = 1; // last accepted timestamp (ms), -Infinity at start
export const TS_BASE = 2; // raw time offsets are (ts − TS_BASE)/1000 s
export const V_BASE = 3; // raw values and coarse means are stored minus V_BASE
export const RAW_HEAD = 4; // next raw write position
export const RAW_N = 5; // raw samples held
export const C_WIDTH = 6; // coarse bucket width W (ms); 0 until the first fit
export const C_LAST = 7; // absolute index floor(ts/W) of the newest coarse bucket
export const C_USED = 8; // coarse buckets held (the oldest is C_LAST − C_USED + 1)
export const DT = 9; // median sample spacing (ms)
export const SINCE_FIT = 10; // samples learned since the last fit
export const NEXT_FIT = 11; // refit when SINCE_FIT reaches this
export const N_FITS = 12;
export const CADENCE = 13; // records between refits
export const MODEL_T0 = 14; // the collapsed trend is LEVEL_A + SLOPE_B·(ts − MODEL_T0)
export const LEVEL_A = 15;
export const SLOPE_B = 16;
export const SIGMA_RES = 17; // robust σ of the forecast residuals (value units)
export const SIGMA_INN = 18; // robust σ of the AR(1) innovations (value units)
export const PHI = 19; // AR(1) coefficient of the residuals
export const LAST_R = 20; // last residual and its time
export const LAST_R_TS = 21;
export const ENV_LO = 22; // DBSCAN normal envelope of the innovation z (open interval)
export const ENV_HI = 23;
export const BAND_Q = 24; // |z_res| quantile at band_coverage
export const LIK_SUM = 25; // likelihood moving-average ring: sum, head, fill
export const LIK_HEAD = 26;
export const LIK_N = 27;
export const EW_MEAN = 28; // running mean/variance of the moving average, and their count
export const EW_VAR = 29;
export const EW_N = 30;
export const LAST_ALARM_TS = 31;
export const EPISODE = 32; // 0 none, 1 alarm episode, 2 suppressed episode
export const LS_HEAD = 33; // level-shift ring: head, fill, counts ≥ +z / ≤ −z, window
export const LS_N = 34;
export const LS_HI = 35;
export const LS_LO = 36;
export const LS_M = 37;
export const STEP0 = 38; // onsets of the step regressors (ms) or NaN
export const STEP1 = 39;
export const PENDING_STEP = 40; // a level shift's onset awaiting the refit, or NaN
export const N_PER = 41; // seasonalities in the model (detected first, then calendar ones)
export const N_DET = 42; // detected periods (kept between detections)
export const DET_COUNT = 43; // COUNT at the last periodicity detection
export const PROF_PER = 44; // period of the seasonal residual profile (ms)
export const GAMMA = 45; // residual scale ∝ (forecast / Y_REF)^GAMMA (heteroscedasticity), 0 = constant
export const Y_REF = 46;
export const TREND_END = 47; // the trend line is held flat after this time (last fit + one refit interval)
export const PERIOD_AGE = 48; // refits since the periods were last detected
export const LO_SEEN = 49; // smallest and largest value seen (constant-series floor)
export const HI_SEEN = 50;
export const PROF_BINS = 51; // bins of the seasonal residual profile (0 = none), of period PROF_PER
export const TAIL_INN = 52; // tail model of |z_inn| (point stage)
export const TAIL_RES = TAIL_INN + TAIL_SLOTS; // tail model of |z_res| (likelihood stage, band)
export const EWMA = TAIL_RES + TAIL_SLOTS; // level stage: EWMAs of z_res (short, long), their running means and variances (6 slots)
/**
 * Out-of-sample calibration: samples scored since the last fit, how many of them had
 * |z_inn| > 1 under the model that scored them, and the factor k ≥ 1 by which that model's
 * errors on new data exceeded its in-sample σ (0 = not measured yet, read as 1).
 */
export const OOS_N = EWMA + 6;
export const OOS_EXC = EWMA + 7;
export const OOS_K = EWMA + 8;
/** First config-dependent slot: detected periods and orders, model periods and orders, Fourier coefficients (see Layout). */
export const DYNAMIC = EWMA + 9;
/** Calendar seasonalities (daily, weekly, yearly) the model may add to the detected periods. */
export const MAX_CALENDAR = 3;

/** Capacity of the level-shift ring. */
export const LS_CAP = 32;
/** Most bins of the seasonal residual profile. */
export const PROF_CAP = 256;

/** Score bytes: bit 7 marks a sample excluded from fits; bits 0–6 hold round(score·127). */
export const EXCLUDED = 0x80;

/** Sizes and offsets derived from the config. */
export interface Layout {
  readonly raw: number;
  readonly coarse: number;
  readonly likW: number;
  readonly maxPeriods: number;
  readonly maxOrder: number;
  /** f64 slots. */
  readonly headerSlots: number;
  /** Most seasonalities in the model (detected + calendar). */
  readonly maxSeasons: number;
  /** f64 offsets: detected periods and orders (max_periods each), model periods and orders (maxSeasons each), Fourier coefficients. */
  readonly dper: number;
  readonly dord: number;
  readonly per: number;
  readonly ord: number;
  readonly fourier: number;
  /** f32 offsets. */
  readonly rawTs: number;
  readonly rawV: number;
  readonly cMean: number;
  readonly cCnt: number;
  readonly likRing: number;
  readonly lsRing: number;
  readonly prof: number;
  readonly f32Slots: number;
  readonly bytes: number;
}

/** Bytes of the state buffer: f64 header, f32 rings, score bytes, padded to 8. */
function bufferBytes(headerSlots: number, f32Slots: number, raw: number): number {
  return Math.ceil((8 * headerSlots + 4 * f32Slots + raw) / 8) * 8;
}

export function layoutOf(c: DetectionConfig): Layout {
  const raw = c.raw_history;
  const coarse = c.coarse_history;
  const likW = Math.max(1, c.likelihood_window);
  const maxSeasons = c.max_periods + MAX_CALENDAR;
  const dper = DYNAMIC;
  const dord = dper + c.max_periods;
  const per = dord + c.max_periods;
  const ord = per + maxSeasons;
  const fourier = ord + maxSeasons;
  const headerSlots = fourier + 2 * maxSeasons * c.max_fourier_order;
  const rawTs = 0;
  const rawV = raw;
  const cMean = 2 * raw;
  const cCnt = cMean + coarse;
  const likRing = cCnt + coarse;
  const lsRing = likRing + likW;
  const prof = lsRing + LS_CAP;
  const f32Slots = prof + PROF_CAP;
  const bytes = bufferBytes(headerSlots, f32Slots, raw);
  return {
    raw,
    coarse,
    likW,
    maxPeriods: c.max_periods,
    maxOrder: c.max_fourier_order,
    headerSlots,
    maxSeasons,
    dper,
    dord,
    per,
    ord,
    fourier,
    rawTs,
    rawV,
    cMean,
    cCnt,
    likRing,
    lsRing,
    prof,
    f32Slots,
    bytes,
  };
}

/** A series' engine state: three views over its region of a slab. */
export interface EngineState {
  readonly f: Float64Array;
  readonly s: Float32Array;
  readonly b: Uint8Array;
}

function views(buf: ArrayBuffer, l: Layout, at: number): EngineState {
  return {
    f: new Float64Array(buf, at, l.headerSlots),
    s: new Float32Array(buf, at + 8 * l.headerSlots, l.f32Slots),
    b: new Uint8Array(buf, at + 8 * l.headerSlots + 4 * l.f32Slots, l.raw),
  };
}

/** States in a pool's first slab; each next slab doubles, up to {@link SLAB_MAX_BYTES}. */
const SLAB_FIRST_STATES = 64;
/** Largest slab, bytes (1 GiB: a million default states take 24 slabs). */
const SLAB_MAX_BYTES = 2 ** 30;

/**
 * Where a worker's engine states live: slabs of many states (one ArrayBuffer per slab, not per
 * series) and a free list of released states, reused before the slab grows.
 *
 * Why slabs: V8 counts ArrayBuffer bytes as external memory and starts a full mark-compact about
 * every 64 MB allocated, each walking the whole heap. One buffer per series made restoring a
 * million series run ~240 of them over a heap holding the million series (bench:memory: restore
 * 300k series 32 s, superlinear). Slabs double from 64 states to 1 GiB, so growth to a million
 * series allocates 24 times. A slab's pages are touched (resident) only as states fill it.
 *
 * A released state's memory is reused by the next state created or decoded; slabs themselves
 * are kept for the life of the worker (series churn reuses them).
 */
export class StatePool {
  private slab: ArrayBuffer | undefined;
  private used = 0;
  private capacity = 0;
  private nextCapacity = SLAB_FIRST_STATES;
  private readonly free: EngineState[] = [];

  constructor(private readonly l: Layout) {}

  /** A state's memory, zeroed when `zero` (a reused state holds its previous series' bytes). */
  alloc(zero: boolean): EngineState {
    const reused = this.free.pop();
    if (reused) {
      if (zero) bytesOf(reused, this.l).fill(0);
      return reused;
    }
    if (!this.slab || this.used === this.capacity) {
      this.capacity = this.nextCapacity;
      this.nextCapacity = Math.min(
        2 * this.nextCapacity,
        Math.max(1, Math.floor(SLAB_MAX_BYTES / this.l.bytes)),
      );
      this.slab = new ArrayBuffer(this.capacity * this.l.bytes);
      this.used = 0;
    }
    return views(this.slab, this.l, this.l.bytes * this.used++);
  }

  /** Gives a state's memory back; the state must not be used afterwards. */
  release(st: EngineState): void {
    this.free.push(st);
  }
}

/** A state's whole buffer region (header, rings, score bytes), as bytes. */
function bytesOf(st: EngineState, l: Layout): Uint8Array {
  return new Uint8Array(st.f.buffer, st.f.byteOffset, l.bytes);
}

export function createState(pool: StatePool): EngineState {
  const st = pool.alloc(true);
  const f = st.f;
  f[LAST_TS] = -Infinity;
  f[LAST_R_TS] = NaN;
  f[LAST_ALARM_TS] = -Infinity;
  f[STEP0] = NaN;
  f[STEP1] = NaN;
  f[PENDING_STEP] = NaN;
  f[ENV_LO] = -Infinity;
  f[ENV_HI] = Infinity;
  f[LO_SEEN] = Infinity;
  f[HI_SEEN] = -Infinity;
  return st;
}

/**
 * Encoded state (little-endian): u32 magic "VGD1" | u32 version | u32 raw_history |
 * u32 coarse_history | u32 header slots | u32 likelihood window | the state buffer (bytes as in
 * memory). Decoding copies the bytes back, so `decode(encode(s))` is bit-identical.
 */
export function encodeState(st: EngineState, l: Layout): Uint8Array {
  const out = new Uint8Array(encodedStateLength(l));
  encodeStateInto(st, l, out, 0);
  return out;
}

/** Length of {@link encodeState}'s output, bytes (the same for every state of a layout). */
export function encodedStateLength(l: Layout): number {
  return 24 + l.bytes;
}

/** Writes {@link encodeState}'s output at `out[offset…offset + encodedStateLength(l))`. */
export function encodeStateInto(st: EngineState, l: Layout, out: Uint8Array, offset: number): void {
  const dv = new DataView(out.buffer, out.byteOffset + offset, 24);
  dv.setUint32(0, MAGIC, true);
  dv.setUint32(4, STATE_VERSION, true);
  dv.setUint32(8, l.raw, true);
  dv.setUint32(12, l.coarse, true);
  dv.setUint32(16, l.headerSlots, true);
  dv.setUint32(20, l.likW, true);
  out.set(bytesOf(st, l), offset + 24);
}

/**
 * A version 1 state's buffer (before the cold-start slots): the header is copied around the three
 * inserted slots (zero: not measured yet), the rings and score bytes verbatim.
 */
function migrateV1(old: Uint8Array, l: Layout, st: EngineState): EngineState {
  const hs1 = l.headerSlots - V2_INSERTED;
  const tail = 4 * l.f32Slots + l.raw;
  const aligned = new Uint8Array(8 * hs1);
  aligned.set(old.subarray(0, 8 * hs1));
  const oldF = new Float64Array(aligned.buffer, 0, hs1);
  bytesOf(st, l).fill(0);
  const f = st.f;
  f.set(oldF.subarray(0, OOS_N), 0);
  f.fill(0, OOS_N, OOS_N + V2_INSERTED);
  f.set(oldF.subarray(OOS_N), OOS_N + V2_INSERTED);
  bytesOf(st, l).set(old.subarray(8 * hs1, 8 * hs1 + tail), 8 * l.headerSlots);
  return st;
}

/** Error raised when an encoded state cannot be decoded under the current config. */
export class DetectionStateError extends Error {
  readonly code = 'DETECTION_STATE_INCOMPATIBLE' as const;
  readonly retryable = false;
}

export function decodeState(bytes: Uint8Array, l: Layout, pool: StatePool): EngineState {
  if (bytes.byteLength < 24)
    throw new DetectionStateError(`engine state too short: ${bytes.byteLength} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = dv.getUint32(0, true);
  const version = dv.getUint32(4, true);
  if (magic !== MAGIC || (version !== STATE_VERSION && version !== 1)) {
    throw new DetectionStateError(
      `engine state has magic 0x${magic.toString(16)} version ${version}, expected "VGD1" version ${STATE_VERSION}`,
    );
  }
  const headerSlots = version === 1 ? l.headerSlots - V2_INSERTED : l.headerSlots;
  const size = bufferBytes(headerSlots, l.f32Slots, l.raw);
  const got = [dv.getUint32(8, true), dv.getUint32(12, true), dv.getUint32(16, true), dv.getUint32(20, true)];
  const want = [l.raw, l.coarse, headerSlots, l.likW];
  if (got.some((v, i) => v !== want[i]) || bytes.byteLength !== 24 + size) {
    throw new DetectionStateError(
      `engine state layout (raw ${got[0]}, coarse ${got[1]}, header ${got[2]}, likelihood ${got[3]}) differs from the config's (${want.join(', ')}); ` +
        'raw_history, coarse_history, max_periods, max_fourier_order and likelihood_window cannot change under saved state',
    );
  }
  // Copied into the state's own (8-byte aligned) memory.
  const st = pool.alloc(false);
  if (version === 1) return migrateV1(bytes.subarray(24, 24 + size), l, st);
  bytesOf(st, l).set(bytes.subarray(24, 24 + size));
  return st;
}
