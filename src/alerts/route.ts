/**
 * The routing tree (pure), after Alertmanager's dispatch/route.go: children inherit unset
 * options; `match` walks depth-first, left to right; a child that matched stops its later
 * siblings unless it has `continue: true`; a node none of whose children match is itself the
 * match. Mute/active time intervals are not inherited (as in Alertmanager); `detection`
 * overrides are, field by field.
 */
import { durationMs } from '../common/index.js';
import { ALERTING_DEFAULTS, type DetectionOverride, type RouteConfig } from './config.js';
import {
  compileMatcher,
  formatLabelSet,
  formatMatchers,
  matchesAll,
  parseMatchers,
  sortMatchers,
  type Matcher,
  type MatcherSpec,
} from './matchers.js';

/** A node of the runtime routing tree. Durations in ms. */
export interface RouteNode {
  /** Alertmanager's `Route.ID()`: the key plus the position among siblings. Unique. */
  readonly id: string;
  /** Alertmanager's `Route.Key()`: parent key + "/" + matchers. Prefix of group keys. */
  readonly key: string;
  readonly matchers: readonly Matcher[];
  readonly continue: boolean;
  readonly receiver: string;
  /** Sorted label names to group by (ignored when `groupByAll`). */
  readonly groupBy: readonly string[];
  readonly groupByAll: boolean;
  readonly groupWaitMs: number;
  readonly groupIntervalMs: number;
  readonly repeatIntervalMs: number;
  readonly muteTimeIntervals: readonly string[];
  readonly activeTimeIntervals: readonly string[];
  /** The detection overrides in effect here (merged from the root down). */
  readonly detection: DetectionOverride;
  readonly routes: readonly RouteNode[];
}

/** Matcher specs of a route config (`match`, `match_re` and `matchers`), sorted. Throws MatcherError. */
export function routeMatcherSpecs(route: RouteConfig): MatcherSpec[] {
  const specs: MatcherSpec[] = [];
  for (const [name, value] of Object.entries(route.match ?? {})) specs.push({ name, type: '=', value });
  for (const [name, value] of Object.entries(route.match_re ?? {})) specs.push({ name, type: '=~', value });
  if (route.matchers !== undefined) specs.push(...parseMatchers(route.matchers));
  return sortMatchers(specs);
}

/** Merges `child` over `parent`, field by field (flapping too). */
export function mergeDetection(
  parent: DetectionOverride,
  child: DetectionOverride | undefined,
): DetectionOverride {
  if (!child) return parent;
  const flapping =
    parent.flapping || child.flapping ? { ...(parent.flapping ?? {}), ...(child.flapping ?? {}) } : undefined;
  return { ...parent, ...child, ...(flapping ? { flapping } : {}) };
}

/**
 * Builds the runtime tree from a validated route config (see check.ts). Throws on an invalid
 * matcher, which a checked config never has.
 */
export function buildRouteTree(root: RouteConfig): RouteNode {
  const base = {
    receiver: '',
    groupBy: [] as readonly string[],
    groupByAll: false,
    groupWaitMs: durationMs(ALERTING_DEFAULTS.groupWait),
    groupIntervalMs: durationMs(ALERTING_DEFAULTS.groupInterval),
    repeatIntervalMs: durationMs(ALERTING_DEFAULTS.repeatInterval),
    detection: {} as DetectionOverride,
  };
  return build(root, undefined, base, 0);
}

function build(
  cfg: RouteConfig,
  parentKey: string | undefined,
  inherited: {
    receiver: string;
    groupBy: readonly string[];
    groupByAll: boolean;
    groupWaitMs: number;
    groupIntervalMs: number;
    repeatIntervalMs: number;
    detection: DetectionOverride;
  },
  position: number,
): RouteNode {
  const specs = routeMatcherSpecs(cfg);
  const key = parentKey === undefined ? formatMatchers(specs) : `${parentKey}/${formatMatchers(specs)}`;
  let groupBy = inherited.groupBy;
  let groupByAll = inherited.groupByAll;
  if (cfg.group_by !== undefined) {
    groupByAll = cfg.group_by.includes('...');
    groupBy = groupByAll ? [] : [...new Set(cfg.group_by)].sort();
  }
  const opts = {
    receiver: cfg.receiver ?? inherited.receiver,
    groupBy,
    groupByAll,
    groupWaitMs: cfg.group_wait !== undefined ? durationMs(cfg.group_wait) : inherited.groupWaitMs,
    groupIntervalMs:
      cfg.group_interval !== undefined ? durationMs(cfg.group_interval) : inherited.groupIntervalMs,
    repeatIntervalMs:
      cfg.repeat_interval !== undefined ? durationMs(cfg.repeat_interval) : inherited.repeatIntervalMs,
    detection: mergeDetection(inherited.detection, cfg.detection),
  };
  const node: RouteNode = {
    id: parentKey === undefined ? key : `${key}/${position}`,
    key,
    matchers: specs.map(compileMatcher),
    continue: cfg.continue ?? false,
    ...opts,
    muteTimeIntervals: cfg.mute_time_intervals ?? [],
    activeTimeIntervals: cfg.active_time_intervals ?? [],
    routes: (cfg.routes ?? []).map((child, i) => build(child, key, opts, i)),
  };
  return node;
}

/** The routes an alert with `labels` is handled by (Alertmanager's `Route.Match`); empty if the root does not match. */
export function matchRoutes(node: RouteNode, labels: Readonly<Record<string, string>>): RouteNode[] {
  if (!matchesAll(node.matchers, labels)) return [];
  const all: RouteNode[] = [];
  for (const child of node.routes) {
    const m = matchRoutes(child, labels);
    all.push(...m);
    if (m.length > 0 && !child.continue) break;
  }
  if (all.length === 0) all.push(node);
  return all;
}

/** The labels of `labels` that `route` groups by. */
export function groupLabelsFor(
  route: RouteNode,
  labels: Readonly<Record<string, string>>,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (route.groupByAll) return { ...labels };
  for (const name of route.groupBy) {
    const v = labels[name];
    if (v !== undefined) out[name] = v;
  }
  return out;
}

/** Alertmanager's group key: `<route key>:<group labels>`, e.g. `{}/{team="db"}:{alertname="cpu"}`. */
export function groupKeyFor(route: RouteNode, groupLabels: Readonly<Record<string, string>>): string {
  return `${route.key}:${formatLabelSet(groupLabels)}`;
}
