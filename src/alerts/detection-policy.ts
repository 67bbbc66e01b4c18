/**
 * What the keyed operator needs from the alerting config, on worker threads (pure):
 *
 * - {@link createDetectionPolicy}: a series' lifecycle parameters. Defaults come from
 *   `alerting.lifecycle` and the detection threshold; the route tree's `detection:` blocks
 *   override them for the alerts a route matches (inherited down the tree, field by field).
 *   When `continue` makes several routes match, the first match (depth-first, in file order)
 *   decides: the same route that receives the alert first.
 * - {@link SilenceIndex}: which silences match a series, so that samples whose event time falls
 *   inside a silence are scored but not learned.
 */
import { durationMs } from '../common/index.js';
import { ALERTING_DEFAULTS, type AlertingConfig, type DetectionOverride } from './config.js';
import type { LifecycleParams } from './lifecycle.js';
import { buildRouteTree, matchRoutes, type RouteNode } from './route.js';
import {
  compileSilence,
  silenceInEffect,
  silenceMatches,
  type CompiledSilence,
  type Silence,
} from './silences.js';

type Labels = Readonly<Record<string, string>>;

export interface DetectionPolicy {
  /** Parameters when no route overrides anything. */
  readonly defaults: LifecycleParams;
  /** Parameters for an alert with `labels` (route overrides applied). */
  paramsFor(labels: Labels): LifecycleParams;
}

function apply(base: LifecycleParams, o: DetectionOverride): LifecycleParams {
  const threshold = o.threshold ?? base.threshold;
  // A route that raises the threshold without a recovery threshold gets no hysteresis below it
  // unless the defaults set one: recovery never exceeds the threshold.
  const recovery = o.recovery_threshold ?? Math.min(base.recoveryThreshold, threshold);
  return {
    threshold,
    recoveryThreshold: Math.min(recovery, threshold),
    forMs: o.for !== undefined ? durationMs(o.for) : base.forMs,
    keepFiringForMs: o.keep_firing_for !== undefined ? durationMs(o.keep_firing_for) : base.keepFiringForMs,
    direction: o.direction ?? base.direction,
    flapping: {
      enabled: o.flapping?.enabled ?? base.flapping.enabled,
      transitions: o.flapping?.transitions ?? base.flapping.transitions,
      windowMs: o.flapping?.window !== undefined ? durationMs(o.flapping.window) : base.flapping.windowMs,
    },
  };
}

/**
 * Builds the policy from a validated `alerting` section (or none) and the detection threshold.
 * `overrides` (tests, backtests) replace the config defaults but not route overrides.
 */
export function createDetectionPolicy(
  alerting: AlertingConfig | undefined,
  detectionThreshold: number,
  overrides: Partial<LifecycleParams> = {},
): DetectionPolicy {
  const lc = alerting?.lifecycle ?? {};
  const fl = lc.flapping ?? {};
  const threshold = overrides.threshold ?? detectionThreshold;
  const defaults: LifecycleParams = {
    threshold,
    recoveryThreshold: Math.min(overrides.recoveryThreshold ?? lc.recovery_threshold ?? threshold, threshold),
    forMs: overrides.forMs ?? durationMs(lc.for ?? ALERTING_DEFAULTS.for),
    keepFiringForMs:
      overrides.keepFiringForMs ?? durationMs(lc.keep_firing_for ?? ALERTING_DEFAULTS.keepFiringFor),
    direction: overrides.direction ?? 'both',
    flapping: overrides.flapping ?? {
      enabled: fl.enabled ?? ALERTING_DEFAULTS.flapping.enabled,
      transitions: fl.transitions ?? ALERTING_DEFAULTS.flapping.transitions,
      windowMs: durationMs(fl.window ?? ALERTING_DEFAULTS.flapping.window),
    },
  };
  const root: RouteNode | undefined = alerting?.route ? buildRouteTree(alerting.route) : undefined;
  return {
    defaults,
    paramsFor(labels) {
      if (!root) return defaults;
      const first = matchRoutes(root, labels)[0];
      return first ? apply(defaults, first.detection) : defaults;
    },
  };
}

/** The silences known to a worker, with a generation number that changes on every update. */
export class SilenceIndex {
  private compiled: CompiledSilence[] = [];
  /** Bumped on every {@link set}; per-series caches compare it. */
  generation = 0;

  /** Replaces the silences. Ones that do not compile are skipped (the dispatcher validated them). */
  set(silences: readonly Silence[]): void {
    const out: CompiledSilence[] = [];
    for (const s of silences) {
      try {
        out.push(compileSilence(s));
      } catch {
        // A silence that cannot compile here was rejected by the dispatcher already; skipping
        // it only means its samples are learned, never that the worker stops.
      }
    }
    this.compiled = out;
    this.generation++;
  }

  get size(): number {
    return this.compiled.length;
  }

  /** The silences whose matchers match `labels` (cache the result per series with {@link generation}). */
  matching(labels: Labels): CompiledSilence[] {
    return this.compiled.filter((c) => silenceMatches(c, labels));
  }
}

/** True when one of `silences` is in effect at event time `ts`. */
export function silencedAt(silences: readonly CompiledSilence[], ts: number): boolean {
  for (const s of silences) if (silenceInEffect(s, ts)) return true;
  return false;
}
