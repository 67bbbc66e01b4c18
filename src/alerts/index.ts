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
export { SIGNATURE_HEADER, ZERO_TIME } from './payload.js';
export { fromApiMatcher } from './matchers.js';
