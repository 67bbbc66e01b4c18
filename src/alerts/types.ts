/**
 * The alert model shared by the lifecycle (runs per series on worker threads) and the
 * dispatcher (routes, groups and delivers on the main thread). Times are epoch ms.
 */

/** Why a sample was judged anomalous, carried to every notification (the `vigil` block). */
export interface AlertExplanation {
  /** Event time of the sample that last changed the alert (epoch ms). */
  readonly ts: number;
  readonly actual: number;
  readonly expected: number;
  readonly lower: number;
  readonly upper: number;
  /** Anomaly score in [0,1]. */
  readonly score: number;
  /** Which detection stage flagged it ("forecast", "dbscan", "likelihood", "level_shift", ...). */
  readonly stage: string;
  /** Detected periods in ms. */
  readonly periodsMs: readonly number[];
  /** Nominal coverage of [lower, upper]. */
  readonly bandCoverage: number;
}

/** Lifecycle states, as Grafana names them. */
export type AlertState = 'inactive' | 'pending' | 'firing' | 'recovering';

/**
 * A change of one series' alert, emitted by the lifecycle. `status` is what receivers see:
 * pending alerts are listed but never notified.
 */
export interface AlertEvent {
  /** FNV-1a 64 of the sorted alert labels (hex). */
  readonly fingerprint: string;
  /** Series labels plus `alertname` (= the metric name). */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly status: 'pending' | 'firing' | 'resolved';
  /** When the alert started firing (pending: when it became pending). */
  readonly startsAt: number;
  /** When it resolved (resolved events only). */
  readonly endsAt?: number;
  /** The series key the alert belongs to. */
  readonly seriesKey: string;
  /** True while the alert flaps (notifications for it are held back). */
  readonly flapping: boolean;
  readonly explanation: AlertExplanation;
  /**
   * The series' recent points with the model's view (oldest first), for the chart in emails.
   * Set on firing and resolved events; omitted when the engine has no history yet.
   */
  readonly recent?: readonly RecentPoint[];
}

/** One recent point of a series (epoch ms; NaN where the model had no expectation). */
export interface RecentPoint {
  readonly ts: number;
  readonly value: number;
  readonly expected: number;
  readonly lower: number;
  readonly upper: number;
  readonly score: number;
}
