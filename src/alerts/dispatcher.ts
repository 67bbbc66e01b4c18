/**
 * The alert dispatcher (main thread): what Alertmanager does after it receives alerts.
 *
 *   receive(events) ─▶ alert store ─▶ route tree ─▶ aggregation groups (group_wait,
 *   group_interval) ─▶ per receiver integration: inhibit ─▶ active/mute time intervals ─▶
 *   silences ─▶ dedup against the notification log (repeat_interval) ─▶ durable outbox ─▶
 *   retry stage (deliverer.ts) ─▶ delivery log
 *
 * Differences from Alertmanager, on purpose:
 * - the outbox owns a notification once it is written; the notification log is updated then,
 *   so retries are not duplicated by the next flush, and a restart resumes delivery;
 * - a resolved alert reaches receivers that were told it was firing even if it was silenced or
 *   inhibited meanwhile, and resolved alerts stay in their group while the route is muted, so a
 *   receiver never keeps a stale firing alert (alertmanager#226);
 * - repeat reminders are not sent for groups whose firing alerts all flap;
 * - the Alertmanager receiver forwards the group's alerts on every flush (a client of an
 *   Alertmanager must re-send firing alerts), not deduplicated.
 *
 * State under `<stateDir>/alerts/`: `outbox/outbox.log`, `nflog.log`, `silences.json`, `history.jsonl`,
 * `notifications.jsonl`.
 */
import { createHash, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { durationMs } from '../common/index.js';
import { ALERTING_DEFAULTS, type AlertingConfig } from './config.js';
import { Deliverer, type DeliveryRecord } from './deliverer.js';
import { AlertsError, type DeliveryFailureReason } from './errors.js';
import { createHttpClient, type UrlCheck } from './http-client.js';
import { compileInhibitRules, Inhibitor } from './inhibit.js';
import { buildIntegrations, type Integration } from './integrations.js';
import {
  compileMatcher,
  formatLabelSet,
  matchesAll,
  toApiMatcher,
  type ApiMatcher,
  type MatcherSpec,
} from './matchers.js';
import { registerAlertMetrics, type AlertMetricsHooks } from './metrics.js';
import { needsUpdate, NotificationLog, type NotifyReason } from './nflog.js';
import {
  Outbox,
  type AttemptRecord,
  type IntegrationType,
  type NotifiedAlert,
  type OutboxEntry,
} from './outbox.js';
import {
  alertsContent,
  buildNotificationData,
  generatorUrl,
  idempotencyKey,
  iso,
  num,
  vigilBlock,
  type GroupAlert,
} from './payload.js';
import { buildRouteTree, groupKeyFor, groupLabelsFor, matchRoutes, type RouteNode } from './route.js';
import {
  compileSilence,
  configSilences,
  silenceInEffect,
  silenceMatches,
  silenceState,
  validateSilenceBody,
  type CompiledSilence,
  type Silence,
  type SilenceBody,
  type SilencesBroadcast,
  type SilenceState,
} from './silences.js';
import { ensureDir, JsonlLog, readJsonFile, writeFileAtomic } from './state-files.js';
import { compileTimeInterval, routeMutedBy, type TimeInterval } from './time-intervals.js';
import type { AlertEvent } from './types.js';

export interface AlertDispatcherOptions {
  /** The validated `alerting` section. */
  readonly config: AlertingConfig;
  /** Vigil's state directory; the dispatcher owns `<stateDir>/alerts/`. */
  readonly stateDir: string;
  readonly logger: Logger;
  /** Wall clock, epoch ms. @defaultValue Date.now */
  readonly now?: () => number;
  /** Base URL of Vigil's UI/API, used in payloads (`externalURL`, `generatorURL`). */
  readonly externalUrl: string;
  /** Outbound URL policy (allowlist / SSRF filter). @defaultValue allow http(s) */
  readonly checkUrl?: UrlCheck;
  /** Jitter source in [0,1). @defaultValue Math.random */
  readonly random?: () => number;
  /** How long `close()` lets in-flight sends finish, ms. @defaultValue 5000 */
  readonly closeTimeoutMs?: number;
  /** prom-client registry to register the alerting metrics on (see metrics.ts). */
  readonly registry?: Registry;
}

/** An alert as `GET /api/v1/alerts` shows it (Alertmanager v2 `gettableAlert` plus Vigil fields). */
export interface AlertView {
  readonly fingerprint: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  readonly startsAt: string;
  readonly updatedAt: string;
  readonly endsAt: string | null;
  readonly generatorURL: string;
  readonly status: {
    /** `pending` (lifecycle pending), `active` (firing, notified), `suppressed` (silenced, inhibited or muted). */
    readonly state: 'pending' | 'active' | 'suppressed';
    readonly silencedBy: readonly string[];
    readonly inhibitedBy: readonly string[];
    /** Time intervals muting every route of the alert right now. */
    readonly mutedBy: readonly string[];
  };
  readonly lifecycle: 'pending' | 'firing';
  readonly flapping: boolean;
  readonly receivers: readonly { readonly name: string }[];
  readonly vigil: Readonly<Record<string, unknown>>;
}

export interface AlertQuery {
  readonly state?: 'pending' | 'firing' | 'active' | 'suppressed';
  readonly silenced?: boolean;
  readonly inhibited?: boolean;
  readonly receiver?: string;
  /** Label matchers (Alertmanager's `filter`). */
  readonly filter?: readonly MatcherSpec[];
}

/** A firing or resolved transition (history). Times are RFC 3339. */
export interface HistoryEntry {
  readonly fingerprint: string;
  readonly alertname: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly status: 'firing' | 'resolved';
  /** When the dispatcher recorded it. */
  readonly at: string;
  readonly startsAt: string;
  readonly endsAt?: string;
  readonly flapping: boolean;
  readonly seriesKey: string;
  readonly actual: number | null;
  readonly expected: number | null;
  readonly lower: number | null;
  readonly upper: number | null;
  readonly score: number | null;
  readonly stage: string;
}

export interface HistoryQuery {
  readonly fingerprint?: string;
  readonly alertname?: string;
  /** Only entries recorded at or after this instant (epoch ms). */
  readonly sinceMs?: number;
  /** Newest first; @defaultValue 100 */
  readonly limit?: number;
}

/** A notification in the delivery log (pending ones come from the outbox). Times RFC 3339. */
export interface NotificationView {
  readonly id: string;
  readonly idempotencyKey: string;
  readonly receiver: string;
  readonly integration: string;
  readonly integrationType: IntegrationType;
  readonly target: string;
  readonly groupKey: string;
  readonly reason: NotifyReason;
  readonly status: 'pending' | 'retrying' | 'delivered' | 'failed';
  readonly failureReason?: DeliveryFailureReason;
  readonly createdAt: string;
  readonly finishedAt?: string;
  readonly nextAttemptAt?: string;
  readonly attemptCount: number;
  readonly alerts: readonly {
    fingerprint: string;
    alertname: string;
    status: string;
    startsAt: string;
    endsAt?: string;
  }[];
  readonly attempts: readonly {
    at: string;
    durationMs: number;
    ok: boolean;
    retryable?: boolean;
    reason?: string;
    statusCode?: number;
    error?: string;
  }[];
}

export interface NotificationQuery {
  readonly receiver?: string;
  readonly status?: NotificationView['status'];
  readonly groupKey?: string;
  /** Newest first; @defaultValue 100 */
  readonly limit?: number;
}

/** Alertmanager v2 `gettableSilence` plus Vigil's `source` and recurring intervals. */
export interface SilenceView {
  readonly id: string;
  readonly matchers: readonly Required<ApiMatcher>[];
  readonly startsAt: string;
  readonly endsAt: string;
  readonly updatedAt: string;
  readonly createdBy: string;
  readonly comment: string;
  readonly status: { readonly state: SilenceState };
  readonly source: 'api' | 'config';
  readonly timeIntervals?: readonly string[];
}

/** Counters for /metrics. */
export interface DispatcherStats {
  readonly alerts: { pending: number; firing: number; silenced: number; inhibited: number };
  readonly groups: number;
  readonly silences: { active: number; pending: number; expired: number };
  /** Per integration type: delivered / failed (finished) / retries (failed attempts retried) / pending. */
  readonly notifications: Record<
    IntegrationType,
    { delivered: number; failed: number; retries: number; pending: number }
  >;
  readonly outbox: number;
  readonly nflogEntries: number;
}

export interface AlertDispatcher {
  /** Loads state (silences, notification log, history, delivery log) and resumes the outbox. */
  start(): Promise<void>;
  /**
   * Takes one batch of operator outputs. Cheap and synchronous: notification work happens in
   * group timers. `resync` marks re-emitted open alerts (after a restore or handover): they are
   * deduplicated against the notification log like any flush, and add no history twice.
   * Events received before `start()` resolves are buffered.
   */
  receive(events: readonly AlertEvent[], opts?: { readonly resync?: boolean }): void;
  /**
   * Forgets open alerts without notifying anyone: their series moved to another node (Kafka
   * partitions reassigned), which now owns them and their notifications. No history entry.
   */
  release(fingerprints: readonly string[]): void;
  listAlerts(query?: AlertQuery): AlertView[];
  history(query?: HistoryQuery): HistoryEntry[];
  notifications(query?: NotificationQuery): NotificationView[];
  listSilences(query?: {
    readonly state?: SilenceState;
    readonly filter?: readonly MatcherSpec[];
  }): SilenceView[];
  /** Throws AlertsError ALERTS_SILENCE_NOT_FOUND. */
  getSilence(id: string): SilenceView;
  /** Creates (or, with `id`, updates) a silence. Throws ALERTS_SILENCE_INVALID / NOT_FOUND / CONFLICT. */
  createSilence(body: SilenceBody): Promise<{ silenceID: string }>;
  /** Expires a silence now. Throws ALERTS_SILENCE_NOT_FOUND / ALERTS_SILENCE_CONFLICT. */
  expireSilence(id: string): Promise<void>;
  /** Calls `cb` with every silence now (if started) and after each change; returns an unsubscribe. */
  onSilencesChanged(cb: (message: SilencesBroadcast) => void): () => void;
  stats(): DispatcherStats;
  /** Waits until no group flush is running and logs are written (tests, shutdown). */
  settle(): Promise<void>;
  /** Stops timers, lets in-flight sends finish (bounded), writes state. Pending outbox entries stay on disk. */
  close(): Promise<void>;
}

interface StoredAlert extends Omit<GroupAlert, 'status'> {
  readonly status: 'pending' | 'firing';
}

interface Group {
  /** Map key: route id + group key. */
  readonly slot: string;
  readonly key: string;
  readonly route: RouteNode;
  readonly labels: Readonly<Record<string, string>>;
  readonly alerts: Map<string, GroupAlert>;
  timer: NodeJS.Timeout | undefined;
  /** When the armed timer fires (monotonic enough: Date.now based), ms. */
  dueAt: number;
  hasFlushed: boolean;
  flushing: Promise<void> | undefined;
  again: boolean;
}

const TYPES: readonly IntegrationType[] = ['webhook', 'email', 'alertmanager', 'log'];

/** Creates the dispatcher. Nothing happens on disk until `start()`. */
export function createAlertDispatcher(opts: AlertDispatcherOptions): AlertDispatcher {
  const cfg = opts.config;
  const now = opts.now ?? Date.now;
  const logger = opts.logger.child({ module: 'alerts' });
  const dir = join(opts.stateDir, 'alerts');
  const externalURL = opts.externalUrl.replace(/\/+$/, '');
  const retention = cfg.retention ?? {};
  const stateRetentionMs = durationMs(retention.state ?? ALERTING_DEFAULTS.stateRetention);
  const retry = cfg.retry ?? {};

  const root = buildRouteTree(cfg.route ?? { receiver: 'default' });
  const intervals = new Map<string, TimeInterval>(
    (cfg.time_intervals ?? []).map((t) => [t.name, compileTimeInterval(t)] as const),
  );
  const inhibitor = new Inhibitor(compileInhibitRules(cfg.inhibit_rules ?? []));
  const integrations = buildIntegrations(cfg.receivers ?? [], {
    http: createHttpClient(opts.checkUrl ? { checkUrl: opts.checkUrl } : {}),
    logger,
    now,
  });
  const byReceiver = new Map<string, Integration[]>();
  for (const it of integrations.values()) {
    const list = byReceiver.get(it.receiver) ?? [];
    list.push(it);
    byReceiver.set(it.receiver, list);
  }
  const onStateError = (err: unknown): void => logger.error({ err }, 'alerting state write failed');
  const nflog = new NotificationLog(dir, onStateError);
  const outbox = new Outbox(dir);
  const history = new JsonlLog<HistoryEntry>(
    join(dir, 'history.jsonl'),
    retention.history_entries ?? ALERTING_DEFAULTS.historyEntries,
    onStateError,
  );
  const deliveryLog = new JsonlLog<DeliveryRecord>(
    join(dir, 'notifications.jsonl'),
    retention.notifications ?? ALERTING_DEFAULTS.notifications,
    onStateError,
  );
  const deliverer = new Deliverer({
    outbox,
    integrations,
    policy: {
      initialMs: durationMs(retry.initial_backoff ?? ALERTING_DEFAULTS.initialBackoff),
      maxMs: durationMs(retry.max_backoff ?? ALERTING_DEFAULTS.maxBackoff),
      giveUpAfterMs: durationMs(retry.give_up_after ?? ALERTING_DEFAULTS.giveUpAfter),
    },
    maxInFlight: retry.max_in_flight ?? ALERTING_DEFAULTS.maxInFlight,
    logger,
    now,
    random: opts.random ?? Math.random,
    onFinished: (r) => {
      deliveryLog.append(r);
      metrics?.onFinished(r);
    },
    onAttempt: (e, a) => metrics?.onAttempt(e, a),
  });
  let metrics: AlertMetricsHooks | undefined;

  const alerts = new Map<string, StoredAlert>();
  const groups = new Map<string, Group>();
  const lastHistory = new Map<string, { status: string; startsAt: string; flapping: boolean }>();
  const silences = new Map<string, Silence>();
  const compiled = new Map<string, CompiledSilence>();
  const silenceListeners = new Set<(m: SilencesBroadcast) => void>();
  let state: 'new' | 'starting' | 'running' | 'closed' = 'new';
  const buffered: [readonly AlertEvent[], { readonly resync?: boolean } | undefined][] = [];
  let maintenance: NodeJS.Timeout | undefined;
  const flushes = new Set<Promise<void>>();

  // ---- silences -------------------------------------------------------------------------

  function putSilence(s: Silence): void {
    silences.set(s.id, s);
    compiled.set(s.id, compileSilence(s));
  }

  function silencedBy(labels: Readonly<Record<string, string>>, at: number): string[] {
    const out: string[] = [];
    for (const c of compiled.values())
      if (silenceInEffect(c, at) && silenceMatches(c, labels)) out.push(c.silence.id);
    return out;
  }

  function broadcast(): SilencesBroadcast {
    return { topic: 'silences', silences: [...silences.values()] };
  }

  function emitSilences(): void {
    const m = broadcast();
    for (const cb of silenceListeners) {
      try {
        cb(m);
      } catch (err) {
        logger.error({ err }, 'silence listener failed');
      }
    }
  }

  async function saveSilences(): Promise<void> {
    const api = [...silences.values()].filter((s) => s.source === 'api');
    await writeFileAtomic(join(dir, 'silences.json'), JSON.stringify({ silences: api }));
  }

  function gcSilences(at: number): boolean {
    let removed = false;
    for (const s of [...silences.values()]) {
      if (s.source === 'api' && s.endsAt < at - stateRetentionMs) {
        silences.delete(s.id);
        compiled.delete(s.id);
        removed = true;
      }
    }
    return removed;
  }

  function silenceView(s: Silence): SilenceView {
    return {
      id: s.id,
      matchers: s.matchers.map(toApiMatcher),
      startsAt: iso(s.startsAt),
      endsAt: iso(s.endsAt),
      updatedAt: iso(s.updatedAt),
      createdBy: s.createdBy,
      comment: s.comment,
      status: { state: silenceState(s, now()) },
      source: s.source,
      ...(s.timeIntervals ? { timeIntervals: s.timeIntervals.map((t) => t.name) } : {}),
    };
  }

  function mustGet(id: string): Silence {
    const s = silences.get(id);
    if (!s) throw new AlertsError('ALERTS_SILENCE_NOT_FOUND', `silence ${id} not found`);
    return s;
  }

  function requireRunning(): void {
    if (state !== 'running')
      throw new AlertsError('ALERTS_NOT_RUNNING', 'the alert dispatcher is not running');
  }

  // ---- routing and groups ---------------------------------------------------------------

  const mutedBy = (route: RouteNode, at: number): string[] => routeMutedBy(route, intervals, at);

  function insert(route: RouteNode, alert: GroupAlert): void {
    const labels = groupLabelsFor(route, alert.labels);
    const key = groupKeyFor(route, labels);
    // Sibling routes can share a key (same matchers): groups are per route, as in Alertmanager.
    const slot = `${route.id}\n${key}`;
    let g = groups.get(slot);
    if (!g) {
      g = {
        slot,
        key,
        route,
        labels,
        alerts: new Map(),
        timer: undefined,
        dueAt: 0,
        hasFlushed: false,
        flushing: undefined,
        again: false,
      };
      groups.set(slot, g);
      arm(g, route.groupWaitMs);
    }
    g.alerts.set(alert.fingerprint, alert);
    // An alert older than group_wait flushes a group that has not flushed yet right away (AM).
    if (!g.hasFlushed && alert.startsAt + route.groupWaitMs < now()) arm(g, 0);
  }

  function arm(g: Group, delayMs: number): void {
    const due = Date.now() + delayMs;
    if (g.timer && delayMs === 0 && g.dueAt <= due) return; // already due now: one timer is enough
    if (g.timer) clearTimeout(g.timer);
    g.dueAt = due;
    g.timer = setTimeout(() => {
      g.timer = undefined;
      runFlush(g);
    }, delayMs);
    g.timer.unref?.();
  }

  function runFlush(g: Group): void {
    if (state !== 'running') return;
    if (g.flushing) {
      g.again = true;
      return;
    }
    arm(g, g.route.groupIntervalMs);
    const p = flush(g)
      .catch((err: unknown) => logger.error({ err, groupKey: g.key }, 'group flush failed'))
      .finally(() => {
        g.flushing = undefined;
        flushes.delete(p);
        if (g.alerts.size === 0 && groups.get(g.slot) === g) {
          if (g.timer) clearTimeout(g.timer);
          groups.delete(g.slot);
        } else if (g.again && state !== 'closed') {
          g.again = false;
          runFlush(g);
        }
      });
    g.flushing = p;
    flushes.add(p);
  }

  /** Firing first, then by label set (each alert's label set formatted once per sort). */
  const sortByLabels = (list: GroupAlert[]): GroupAlert[] => {
    const text = new Map(list.map((a) => [a, formatLabelSet(a.labels)]));
    return list.sort((a, b) =>
      a.status !== b.status
        ? a.status === 'firing'
          ? -1
          : 1
        : (text.get(a) as string) < (text.get(b) as string)
          ? -1
          : 1,
    );
  };

  async function flush(g: Group): Promise<void> {
    const at = now();
    const snapshot = sortByLabels([...g.alerts.values()]);
    if (snapshot.length === 0) return;
    const muted = mutedBy(g.route, at).length > 0;
    let ok = true;
    if (!muted) {
      for (const integ of byReceiver.get(g.route.receiver) ?? []) {
        try {
          await notifyIntegration(g, integ, snapshot, at);
        } catch (err) {
          ok = false;
          logger.error(
            { err, receiver: integ.receiver, integration: integ.key, groupKey: g.key },
            'cannot enqueue notification',
          );
        }
      }
    }
    g.hasFlushed = true;
    if (ok && !muted) {
      for (const a of snapshot)
        if (a.status === 'resolved' && g.alerts.get(a.fingerprint) === a) g.alerts.delete(a.fingerprint);
    }
  }

  async function notifyIntegration(
    g: Group,
    integ: Integration,
    snapshot: readonly GroupAlert[],
    at: number,
  ): Promise<void> {
    const entry = nflog.get(g.key, integ.key);
    const notifiedFiring = new Set(entry?.firing ?? []);
    const kept = snapshot.filter((a) => {
      if (a.status === 'resolved' && notifiedFiring.has(a.fingerprint)) return true;
      if (inhibitor.inhibitedBy(a.labels) !== undefined) return false;
      return silencedBy(a.labels, at).length === 0;
    });
    const firing = new Set(kept.filter((a) => a.status === 'firing').map((a) => a.fingerprint));
    const resolved = new Set(kept.filter((a) => a.status === 'resolved').map((a) => a.fingerprint));
    let reason = needsUpdate(entry, firing, resolved, g.route.repeatIntervalMs, integ.sendResolved, at);
    if (reason === 'repeat interval elapsed' && kept.every((a) => a.status !== 'firing' || a.flapping))
      reason = 'none';
    if (integ.forwardsEveryFlush) reason = kept.length === 0 ? 'none' : reason === 'none' ? 'resend' : reason;
    if (reason === 'none') return;
    const toSend = integ.sendResolved ? kept : kept.filter((a) => a.status === 'firing');
    const content = alertsContent(toSend);
    const contentHash = createHash('sha256').update(content).digest('hex').slice(0, 32);
    const repeat = entry && entry.contentHash === contentHash ? entry.repeat + 1 : 0;
    if (toSend.length > 0) {
      const id = idempotencyKey(integ.key, g.key, content, integ.forwardsEveryFlush ? at : repeat);
      if (!outbox.has(id)) {
        const data = buildNotificationData({
          receiver: integ.receiver,
          groupKey: g.key,
          groupLabels: g.labels,
          alerts: toSend,
          externalURL,
        });
        const payload = integ.render(data, {
          idempotencyKey: id,
          reason,
          nowMs: at,
          groupIntervalMs: g.route.groupIntervalMs,
        });
        const notified: NotifiedAlert[] = toSend.map((a) => ({
          fingerprint: a.fingerprint,
          alertname: a.labels['alertname'] ?? '',
          status: a.status,
          startsAt: a.startsAt,
          ...(a.status === 'resolved' && a.endsAt !== undefined ? { endsAt: a.endsAt } : {}),
        }));
        const e: OutboxEntry = {
          id,
          seq: outbox.nextSeq(),
          createdAt: at,
          receiver: integ.receiver,
          integrationType: integ.type,
          integration: integ.key,
          groupKey: g.key,
          reason,
          alerts: notified,
          payload,
          attempts: [],
          attemptCount: 0,
          nextAttemptAt: at,
        };
        if (await outbox.put(e)) deliverer.enqueue(e);
      }
    }
    nflog.set({
      groupKey: g.key,
      integration: integ.key,
      firing: [...firing],
      resolved: [...resolved],
      timestamp: at,
      contentHash,
      repeat,
    });
  }

  // ---- events ---------------------------------------------------------------------------

  function recordHistory(ev: AlertEvent, status: 'firing' | 'resolved'): void {
    const startsAt = iso(ev.startsAt);
    const last = lastHistory.get(ev.fingerprint);
    if (last && last.status === status && last.startsAt === startsAt && last.flapping === ev.flapping) return;
    lastHistory.set(ev.fingerprint, { status, startsAt, flapping: ev.flapping });
    const e = ev.explanation;
    history.append({
      fingerprint: ev.fingerprint,
      alertname: ev.labels['alertname'] ?? '',
      labels: ev.labels,
      status,
      at: iso(now()),
      startsAt,
      ...(status === 'resolved' && ev.endsAt !== undefined ? { endsAt: iso(ev.endsAt) } : {}),
      flapping: ev.flapping,
      seriesKey: ev.seriesKey,
      actual: num(e.actual),
      expected: num(e.expected),
      lower: num(e.lower),
      upper: num(e.upper),
      score: num(e.score),
      stage: e.stage,
    });
  }

  function handle(ev: AlertEvent, resync: boolean): void {
    const fp = ev.fingerprint;
    const prev = alerts.get(fp);
    const at = now();
    const base = {
      fingerprint: fp,
      labels: ev.labels,
      annotations: ev.annotations,
      startsAt: ev.startsAt,
      seriesKey: ev.seriesKey,
      flapping: ev.flapping,
      explanation: ev.explanation,
      ...(ev.recent ? { recent: ev.recent } : {}),
      updatedAt: at,
    };
    switch (ev.status) {
      case 'pending':
        alerts.set(fp, { ...base, status: 'pending' });
        inhibitor.update(fp, ev.labels, false);
        return;
      case 'firing': {
        const same = prev?.status === 'firing' && prev.startsAt === ev.startsAt;
        alerts.set(fp, { ...base, status: 'firing' });
        inhibitor.update(fp, ev.labels, true);
        recordHistory(ev, 'firing');
        if (resync && same && prev.flapping === ev.flapping) return;
        const alert: GroupAlert = { ...base, status: 'firing' };
        for (const route of matchRoutes(root, ev.labels)) insert(route, alert);
        return;
      }
      case 'resolved': {
        alerts.delete(fp);
        inhibitor.remove(fp);
        if (prev?.status === 'pending') return; // never fired: nothing to tell anyone
        recordHistory(ev, 'resolved');
        const alert: GroupAlert = { ...base, status: 'resolved', endsAt: ev.endsAt ?? at };
        for (const route of matchRoutes(root, ev.labels)) insert(route, alert);
        return;
      }
    }
  }

  // ---- views ----------------------------------------------------------------------------

  function receiversOf(labels: Readonly<Record<string, string>>): RouteNode[] {
    return matchRoutes(root, labels);
  }

  function alertView(a: StoredAlert, at: number): AlertView {
    const routes = receiversOf(a.labels);
    const silencedIds = a.status === 'firing' ? silencedBy(a.labels, at) : [];
    const inhibited = a.status === 'firing' ? inhibitor.inhibitedBy(a.labels) : undefined;
    const muted = a.status === 'firing' ? routes.map((r) => mutedBy(r, at)) : [];
    const allMuted = muted.length > 0 && muted.every((m) => m.length > 0);
    const suppressed = silencedIds.length > 0 || inhibited !== undefined || allMuted;
    return {
      fingerprint: a.fingerprint,
      labels: a.labels,
      annotations: a.annotations,
      startsAt: iso(a.startsAt),
      updatedAt: iso(a.updatedAt),
      endsAt: null,
      generatorURL: generatorUrl(externalURL, a.seriesKey),
      status: {
        state: a.status === 'pending' ? 'pending' : suppressed ? 'suppressed' : 'active',
        silencedBy: silencedIds,
        inhibitedBy: inhibited !== undefined ? [inhibited] : [],
        mutedBy: allMuted ? [...new Set(muted.flat())] : [],
      },
      lifecycle: a.status,
      flapping: a.flapping,
      receivers: [...new Set(routes.map((r) => r.receiver))].map((name) => ({ name })),
      vigil: vigilBlock({ ...a, status: 'firing' }),
    };
  }

  function attemptView(a: AttemptRecord): NotificationView['attempts'][number] {
    return {
      at: iso(a.at),
      durationMs: a.durationMs,
      ok: a.ok,
      ...(a.retryable !== undefined ? { retryable: a.retryable } : {}),
      ...(a.reason !== undefined ? { reason: a.reason } : {}),
      ...(a.statusCode !== undefined ? { statusCode: a.statusCode } : {}),
      ...(a.error !== undefined ? { error: a.error } : {}),
    };
  }

  function notifiedView(a: NotifiedAlert): NotificationView['alerts'][number] {
    return {
      fingerprint: a.fingerprint,
      alertname: a.alertname,
      status: a.status,
      startsAt: iso(a.startsAt),
      ...(a.endsAt !== undefined ? { endsAt: iso(a.endsAt) } : {}),
    };
  }

  // ---- the handle -----------------------------------------------------------------------

  const dispatcher: AlertDispatcher = {
    async start() {
      if (state !== 'new') throw new AlertsError('ALERTS_NOT_RUNNING', 'start() was already called');
      state = 'starting';
      await ensureDir(dir);
      const saved = (await readJsonFile(join(dir, 'silences.json'))) as { silences?: Silence[] } | undefined;
      for (const s of saved?.silences ?? []) putSilence({ ...s, source: 'api' });
      for (const s of configSilences(cfg.silences ?? [], cfg.time_intervals ?? [])) {
        if (silences.get(s.id)?.source === 'api')
          logger.warn({ silence: s.id }, 'a YAML silence replaces an API silence with the same id');
        putSilence(s);
      }
      gcSilences(now());
      await nflog.load();
      await history.load();
      for (const h of history.list())
        lastHistory.set(h.fingerprint, { status: h.status, startsAt: h.startsAt, flapping: h.flapping });
      await deliveryLog.load();
      const { entries, corrupt } = await outbox.load();
      for (const name of corrupt)
        logger.error({ file: name }, 'unreadable outbox entry moved to outbox/corrupt/');
      state = 'running';
      for (const e of entries) deliverer.enqueue(e);
      if (entries.length > 0) logger.info({ pending: entries.length }, 'resuming outbox deliveries');
      for (const [events, o] of buffered.splice(0)) dispatcher.receive(events, o);
      emitSilences();
      maintenance = setInterval(() => {
        const at = now();
        nflog.gc(at, stateRetentionMs);
        if (gcSilences(at)) {
          saveSilences().catch(onStateError);
          emitSilences();
        }
      }, 60_000);
      maintenance.unref();
    },

    receive(events, o) {
      if (state === 'new' || state === 'starting') {
        buffered.push([events, o]);
        return;
      }
      if (state !== 'running') return;
      for (const ev of events) handle(ev, o?.resync ?? false);
    },

    release(fingerprints) {
      const gone = new Set(fingerprints);
      if (gone.size === 0) return;
      for (const fp of gone) alerts.delete(fp);
      // Groups left empty are removed by their next flush, which then notifies nobody.
      for (const g of groups.values())
        for (const fp of g.alerts.keys()) if (gone.has(fp)) g.alerts.delete(fp);
    },

    listAlerts(q = {}) {
      const at = now();
      const filter = (q.filter ?? []).map(compileMatcher);
      const out: AlertView[] = [];
      for (const a of alerts.values()) {
        if (!matchesAll(filter, a.labels)) continue;
        const v = alertView(a, at);
        if (q.state === 'pending' && v.lifecycle !== 'pending') continue;
        if (q.state === 'firing' && v.lifecycle !== 'firing') continue;
        if (q.state === 'active' && v.status.state !== 'active') continue;
        if (q.state === 'suppressed' && v.status.state !== 'suppressed') continue;
        if (q.silenced !== undefined && v.status.silencedBy.length > 0 !== q.silenced) continue;
        if (q.inhibited !== undefined && v.status.inhibitedBy.length > 0 !== q.inhibited) continue;
        if (q.receiver !== undefined && !v.receivers.some((r) => r.name === q.receiver)) continue;
        out.push(v);
      }
      return out.sort((a, b) => (a.startsAt < b.startsAt ? 1 : a.startsAt > b.startsAt ? -1 : 0));
    },

    history(q = {}) {
      const limit = q.limit ?? 100;
      const out: HistoryEntry[] = [];
      const list = history.list();
      for (let i = list.length - 1; i >= 0 && out.length < limit; i--) {
        const h = list[i] as HistoryEntry;
        if (q.fingerprint !== undefined && h.fingerprint !== q.fingerprint) continue;
        if (q.alertname !== undefined && h.alertname !== q.alertname) continue;
        if (q.sinceMs !== undefined && Date.parse(h.at) < q.sinceMs) break;
        out.push(h);
      }
      return out;
    },

    notifications(q = {}) {
      const limit = q.limit ?? 100;
      const keep = (receiver: string, groupKey: string, status: NotificationView['status']): boolean =>
        (q.receiver === undefined || q.receiver === receiver) &&
        (q.groupKey === undefined || q.groupKey === groupKey) &&
        (q.status === undefined || q.status === status);
      const out: NotificationView[] = [];
      const pending = deliverer.pending();
      for (let i = pending.length - 1; i >= 0 && out.length < limit; i--) {
        const e = pending[i] as OutboxEntry;
        const status = e.attempts.length > 0 ? 'retrying' : 'pending';
        if (!keep(e.receiver, e.groupKey, status)) continue;
        out.push({
          id: e.id,
          idempotencyKey: e.id,
          receiver: e.receiver,
          integration: e.integration,
          integrationType: e.integrationType,
          target: integrations.get(e.integration)?.target ?? '',
          groupKey: e.groupKey,
          reason: e.reason,
          status,
          createdAt: iso(e.createdAt),
          nextAttemptAt: iso(e.nextAttemptAt),
          attemptCount: e.attemptCount,
          alerts: e.alerts.map(notifiedView),
          attempts: e.attempts.map(attemptView),
        });
      }
      const done = deliveryLog.list();
      for (let i = done.length - 1; i >= 0 && out.length < limit; i--) {
        const r = done[i] as DeliveryRecord;
        if (!keep(r.receiver, r.groupKey, r.status)) continue;
        out.push({
          id: r.id,
          idempotencyKey: r.id,
          receiver: r.receiver,
          integration: r.integration,
          integrationType: r.integrationType,
          target: r.target,
          groupKey: r.groupKey,
          reason: r.reason,
          status: r.status,
          ...(r.failureReason ? { failureReason: r.failureReason } : {}),
          createdAt: iso(r.createdAt),
          finishedAt: iso(r.finishedAt),
          attemptCount: r.attemptCount,
          alerts: r.alerts.map(notifiedView),
          attempts: r.attempts.map(attemptView),
        });
      }
      return out;
    },

    listSilences(q = {}) {
      const at = now();
      const filter = q.filter ?? [];
      const order: Record<SilenceState, number> = { active: 0, pending: 1, expired: 2 };
      return [...silences.values()]
        .filter((s) => q.state === undefined || silenceState(s, at) === q.state)
        .filter((s) =>
          filter.every((f) =>
            s.matchers.some((m) => m.name === f.name && compileMatcher(f).matches(m.value)),
          ),
        )
        .sort((a, b) => order[silenceState(a, at)] - order[silenceState(b, at)] || a.endsAt - b.endsAt)
        .map(silenceView);
    },

    getSilence(id) {
      return silenceView(mustGet(id));
    },

    async createSilence(body) {
      requireRunning();
      const at = now();
      const v = validateSilenceBody(body, at);
      if (!v.ok) throw new AlertsError('ALERTS_SILENCE_INVALID', v.problems.join('; '));
      let id: string = randomUUID();
      if (body.id !== undefined && body.id !== '') {
        const existing = mustGet(body.id);
        if (existing.source === 'config') {
          throw new AlertsError(
            'ALERTS_SILENCE_CONFLICT',
            `silence ${body.id} is defined in the configuration and cannot be changed`,
          );
        }
        // Alertmanager: an expired silence cannot be updated; a new one is created instead.
        if (silenceState(existing, at) !== 'expired') id = existing.id;
      }
      putSilence({
        id,
        matchers: v.matchers,
        startsAt: v.startsAt,
        endsAt: v.endsAt,
        createdBy: body.createdBy,
        comment: body.comment,
        updatedAt: at,
        source: 'api',
      });
      await saveSilences();
      logger.info({ silence: id, createdBy: body.createdBy }, 'silence saved');
      emitSilences();
      return { silenceID: id };
    },

    async expireSilence(id) {
      requireRunning();
      const s = mustGet(id);
      const at = now();
      if (s.source === 'config') {
        throw new AlertsError(
          'ALERTS_SILENCE_CONFLICT',
          `silence ${id} is defined in the configuration; remove it there`,
        );
      }
      const st = silenceState(s, at);
      if (st === 'expired') throw new AlertsError('ALERTS_SILENCE_CONFLICT', `silence ${id} already expired`);
      putSilence({ ...s, startsAt: st === 'pending' ? at : s.startsAt, endsAt: at, updatedAt: at });
      await saveSilences();
      logger.info({ silence: id }, 'silence expired');
      emitSilences();
    },

    onSilencesChanged(cb) {
      silenceListeners.add(cb);
      if (state === 'running') cb(broadcast());
      return () => silenceListeners.delete(cb);
    },

    stats() {
      const at = now();
      let pending = 0;
      let firing = 0;
      let silenced = 0;
      let inhibited = 0;
      for (const a of alerts.values()) {
        if (a.status === 'pending') {
          pending++;
          continue;
        }
        firing++;
        if (silencedBy(a.labels, at).length > 0) silenced++;
        if (inhibitor.inhibitedBy(a.labels) !== undefined) inhibited++;
      }
      const sil = { active: 0, pending: 0, expired: 0 };
      for (const s of silences.values()) sil[silenceState(s, at)]++;
      const pendingByType = deliverer.pendingByType();
      const notifications = {} as DispatcherStats['notifications'];
      for (const t of TYPES) {
        const c = deliverer.counters.get(t) ?? { delivered: 0, failed: 0, retries: 0 };
        notifications[t] = { ...c, pending: pendingByType.get(t) ?? 0 };
      }
      return {
        alerts: { pending, firing, silenced, inhibited },
        groups: groups.size,
        silences: sil,
        notifications,
        outbox: outbox.size,
        nflogEntries: nflog.size,
      };
    },

    async settle() {
      while (flushes.size > 0) await Promise.allSettled([...flushes]);
      await Promise.all([nflog.save(), history.flush(), deliveryLog.flush()]);
    },

    async close() {
      if (state === 'closed') return;
      const wasRunning = state === 'running';
      state = 'closed';
      if (maintenance) clearInterval(maintenance);
      for (const g of groups.values()) if (g.timer) clearTimeout(g.timer);
      if (!wasRunning) return;
      while (flushes.size > 0) await Promise.allSettled([...flushes]);
      await deliverer.close(opts.closeTimeoutMs ?? 5000);
      for (const it of integrations.values()) it.close();
      await Promise.all([nflog.close(), outbox.close(), history.flush(), deliveryLog.flush()]);
    },
  };
  if (opts.registry) metrics = registerAlertMetrics(opts.registry, dispatcher);
  return dispatcher;
}
