/**
 * src/alerts: everything after "this sample is anomalous": the per-series lifecycle and the
 * detection policy (pure; they run in the keyed operator on worker threads), and on the main
 * thread the dispatcher: Alertmanager's route tree, grouping, inhibition, time intervals,
 * silences, notification log, the durable outbox, the receivers (webhook, email, alertmanager,
 * log) behind one retry stage, the delivery log and the alert history. It never knows how an
 * anomaly was computed, and imports no other src/ module but src/common.
 */
export type { AlertEvent, AlertExplanation, AlertState, RecentPoint } from './types.js';
export {
  stepLifecycle,
  newLifecycleState,
  encodeLifecycle,
  encodeLifecycleInto,
  lifecycleByteLength,
  decodeLifecycle,
  alertLabels,
  fingerprint,
  type LifecycleParams,
  type LifecycleState,
  type LifecycleInput,
  type LifecycleChange,
  type FlappingParams,
  type EmittedState,
} from './lifecycle.js';
export {
  AlertingConfigSchema,
  ALERTING_DEFAULTS,
  type AlertingConfig,
  type RouteConfig,
  type ReceiverConfig,
  type DetectionOverride,
} from './config.js';
export { checkAlertingConfig, type AlertingConfigIssue, type AlertingIssueCode } from './check.js';
export { createDetectionPolicy, SilenceIndex, silencedAt, type DetectionPolicy } from './detection-policy.js';
export {
  isSilencesBroadcast,
  normalizeSilences,
  configSilences,
  type CompiledSilence,
  silenceState,
  type Silence,
  type SilenceBody,
  type SilenceState,
  type SilencesBroadcast,
} from './silences.js';
export { parseMatchers, compileMatchers, matchesAll, type MatcherSpec, type ApiMatcher } from './matchers.js';
export { AlertsError, DeliveryError, type AlertsErrorCode, type DeliveryFailureReason } from './errors.js';
export {
  createAlertDispatcher,
  type AlertDispatcher,
  type AlertDispatcherOptions,
  type AlertView,
  type AlertQuery,
  type HistoryEntry,
  type HistoryQuery,
  type NotificationView,
  type NotificationQuery,
  type SilenceView,
  type DispatcherStats,
} from './dispatcher.js';
export type { UrlCheck } from './http-client.js';
// Pure building blocks of the dispatcher, for offline replays (the backtest report's "what would
// have paged me", src/app/report.ts): the same route tree, grouping, inhibition, time intervals,
// dedup and integrations (with send_resolved defaults) that the dispatcher uses.
export { buildRouteTree, matchRoutes, groupKeyFor, groupLabelsFor, type RouteNode } from './route.js';
export { compileInhibitRules, Inhibitor } from './inhibit.js';
export { compileTimeInterval, intervalContains, routeMutedBy, type TimeInterval } from './time-intervals.js';
export { needsUpdate, type NflogEntry, type NotifyReason } from './nflog.js';
export { buildIntegrations, type Integration } from './integrations.js';
export { SIGNATURE_HEADER, ZERO_TIME } from './payload.js';
export { fromApiMatcher } from './matchers.js';
