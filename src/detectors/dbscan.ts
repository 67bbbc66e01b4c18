/**
 * Exact DBSCAN (Ester, Kriegel, Sander & Xu, KDD 1996) for one-dimensional points, by sorting
 * and sweeping: O(n log n) instead of the O(n²)–O(n³) of a generic implementation
 * (shared/design/packages.md §2), plus the residual-outlier model of shared/design/detection.md
 * §6.3 and its O(1) online rule.
 *
 * Semantics follow npm `density-clustering` 1.3.0 (our test oracle): q is a neighbour of p iff
 * |p − q| < eps (strict), a point counts itself, and p is a core point iff it has ≥ minPts
 * neighbours. In 1-D two core points are density-connected iff every gap between consecutive
 * core points between them is < eps, so clusters are runs of core points in sorted order. A
 * non-core point within eps of a core point is a border point; DBSCAN gives it to whichever
 * cluster reaches it first (order-dependent); here it joins the cluster of its nearest core
 * point (ties: the lower one), which makes the result independent of input order. Noise is
 * "in no cluster" (density-clustering's own `noise` list wrongly keeps border points visited
 * before their core point).
 */

/** Result of {@link dbscan1d}: per input index, its cluster (0-based, ascending by value) or −1 for noise. */
export interface Dbscan1dResult {
  readonly labels: Int32Array;
  /** 1 for core points. */
  readonly core: Uint8Array;
  readonly clusters: number;
}

/** Clusters the values `x[0..n)` (see the module comment). Throws RangeError for eps ≤ 0 or minPts < 1. */
export function dbscan1d(x: ArrayLike<number>, n: number, eps: number, minPts: number): Dbscan1dResult {
  if (!(eps > 0) || !(minPts >= 1))
    throw new RangeError(`dbscan1d needs eps > 0 and minPts ≥ 1 (got ${eps}, ${minPts})`);
  const order = new Uint32Array(n);
  let sorted = true;
  for (let i = 0; i < n; i++) {
    order[i] = i;
    if (i > 0 && (x[i] as number) < (x[i - 1] as number)) sorted = false;
  }
  // Already ascending (the envelope passes sorted values): the identity is the same order the
  // comparator (value, then index) gives, without n·log n calls into it.
  if (!sorted) order.sort((a, b) => (x[a] as number) - (x[b] as number) || a - b);
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = x[order[i] as number] as number;
  const isCore = new Uint8Array(n); // by sorted position
  let l = 0;
  let r = 0;
  for (let i = 0; i < n; i++) {
    const vi = v[i] as number;
    while ((v[l] as number) <= vi - eps) l++;
    if (r < i) r = i;
    while (r + 1 < n && (v[r + 1] as number) < vi + eps) r++;
    if (r - l + 1 >= minPts) isCore[i] = 1;
  }
  const sortedLabel = new Int32Array(n).fill(-1);
  let clusters = 0;
  let lastCore = -1;
  for (let i = 0; i < n; i++) {
    if (!isCore[i]) continue;
    if (lastCore < 0 || (v[i] as number) - (v[lastCore] as number) >= eps) clusters++;
    sortedLabel[i] = clusters - 1;
    lastCore = i;
  }
  // Border points: nearest core point within eps (left scan and right scan).
  const leftCore = new Int32Array(n);
  let lc = -1;
  for (let i = 0; i < n; i++) {
    if (isCore[i]) lc = i;
    leftCore[i] = lc;
  }
  let rc = -1;
  for (let i = n - 1; i >= 0; i--) {
    if (isCore[i]) {
      rc = i;
      continue;
    }
    const vi = v[i] as number;
    const a = leftCore[i] as number;
    const dl = a >= 0 ? vi - (v[a] as number) : Infinity;
    const dr = rc >= 0 ? (v[rc] as number) - vi : Infinity;
    if (dl < eps && dl <= dr) sortedLabel[i] = sortedLabel[a] as number;
    else if (dr < eps) sortedLabel[i] = sortedLabel[rc] as number;
  }
  const labels = new Int32Array(n);
  const core = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const o = order[i] as number;
    labels[o] = sortedLabel[i] as number;
    core[o] = isCore[i] as number;
  }
  return { labels, core, clusters };
}

/** Options of {@link fitResidualEnvelope} (defaults: shared/design/detection.md §6.3). */
export interface EnvelopeOptions {
  /** Least eps, in the residuals' units (σ when they are z-scores). @defaultValue 0.5 */
  readonly epsMin?: number;
  /** minPts; 0 picks max(4, round(ln n)) (Kailing et al.'s ln n rule). @defaultValue 0 */
  readonly minPts?: number;
  /** Clusters with at most this fraction of the points count as outliers (Alink's rule). @defaultValue 0.01 */
  readonly smallClusterFraction?: number;
}

/** The normal region of the residuals, for the online rule. */
export interface ResidualEnvelope {
  /** A new residual z is DBSCAN-normal iff lo < z < hi (core interval widened by eps). */
  readonly lo: number;
  readonly hi: number;
  readonly eps: number;
  readonly minPts: number;
  /** Points of the fitted set that are noise or in a small cluster (≤ max(minPts, fraction·n) points). */
  readonly outliers: number;
}

/**
 * Fits DBSCAN to residuals `z[0..n)` and returns the normal cluster's envelope (detection.md
 * §6.3): minPts = max(4, round(ln n)); eps = max(knee of the sorted (minPts−1)-NN distances,
 * epsMin); the normal cluster is the one holding the median; lo/hi are its extreme core points
 * widened by eps. Since consecutive core points of a cluster are < eps apart, the open interval
 * (lo, hi) is exactly the union of the cores' eps-balls, i.e. DBSCAN's border rule: a new point
 * would join the normal cluster iff it falls inside it. O(n log n).
 */
export function fitResidualEnvelope(
  z: ArrayLike<number>,
  n: number,
  opts: EnvelopeOptions = {},
): ResidualEnvelope {
  const minPts =
    opts.minPts && opts.minPts > 0 ? opts.minPts : Math.max(4, Math.round(Math.log(Math.max(n, 1))));
  const epsMin = opts.epsMin ?? 0.5;
  if (n < minPts) return { lo: -Infinity, hi: Infinity, eps: epsMin, minPts, outliers: 0 };
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = z[i] as number;
  v.sort();
  const eps = Math.max(kneeEps(v, n, minPts - 1), epsMin);
  const res = dbscan1d(v, n, eps, minPts);
  // the normal cluster: the median's, or the largest if the median is noise
  const sizes = new Int32Array(res.clusters);
  for (let i = 0; i < n; i++) {
    const c = res.labels[i] as number;
    if (c >= 0) sizes[c] = (sizes[c] as number) + 1;
  }
  let normal = res.labels[n >> 1] as number;
  if (normal < 0) {
    let best = -1;
    for (let c = 0; c < res.clusters; c++)
      if (best < 0 || (sizes[c] as number) > (sizes[best] as number)) best = c;
    normal = best;
  }
  if (normal < 0) return { lo: -Infinity, hi: Infinity, eps, minPts, outliers: 0 };
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < n; i++) {
    if (res.labels[i] !== normal || !res.core[i]) continue;
    const x = v[i] as number;
    if (x < lo) lo = x;
    if (x > hi) hi = x;
  }
  const small = Math.max(minPts, (opts.smallClusterFraction ?? 0.01) * n);
  let outliers = 0;
  for (let i = 0; i < n; i++) {
    const c = res.labels[i] as number;
    if (c !== normal && (c < 0 || (sizes[c] as number) <= small)) outliers++;
  }
  return { lo: lo - eps, hi: hi + eps, eps, minPts, outliers };
}

/**
 * Knee of the sorted k-NN distance curve (the point farthest from the chord between its ends,
 * as R's kNNdistplot is read and evoxploit's `kdist_info` computes it). `v` is sorted ascending.
 */
export function kneeEps(v: Float64Array, n: number, k: number): number {
  if (n <= k + 1 || k < 1) return 0;
  const d = new Float64Array(n);
  // k-th nearest neighbour distance in 1-D: among v[i−k..i+k], the k-th smallest |v[j] − v[i]|,
  // found by merging the two sides outward.
  for (let i = 0; i < n; i++) {
    let a = i - 1;
    let b = i + 1;
    let dist = 0;
    for (let c = 0; c < k; c++) {
      const da = a >= 0 ? (v[i] as number) - (v[a] as number) : Infinity;
      const db = b < n ? (v[b] as number) - (v[i] as number) : Infinity;
      if (da <= db) {
        dist = da;
        a--;
      } else {
        dist = db;
        b++;
      }
    }
    d[i] = dist;
  }
  d.sort();
  const y0 = d[0] as number;
  const y1 = d[n - 1] as number;
  if (!(y1 > y0)) return y0;
  let best = 0;
  let bestDist = -1;
  for (let i = 0; i < n; i++) {
    // distance to the chord from (0, y0) to (n−1, y1), both axes scaled to [0,1]
    const xi = i / (n - 1);
    const yi = ((d[i] as number) - y0) / (y1 - y0);
    const dist = xi - yi;
    if (dist > bestDist) {
      bestDist = dist;
      best = i;
    }
  }
  return d[best] as number;
}
