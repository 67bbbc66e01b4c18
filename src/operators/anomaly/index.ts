/**
 * src/operators/anomaly: the per-series detection engine (pure). Combines src/detectors and
 * src/prophet; the keyed operator in src/operators/anomaly-operator.ts runs it on worker threads
 * and in backtests.
 */
export {
  createAnomalyEngine,
  newScoreOutput,
  logScore,
  type AnomalyEngine,
  type ScoreOutput,
  type Stage,
  type SeriesDescription,
  type EngineDiagnostics,
} from './engine.js';
export { DetectionConfigSchema, defaultDetectionConfig, type DetectionConfig } from './config.js';
export { DetectionStateError, STATE_VERSION, type EngineState } from './state.js';
