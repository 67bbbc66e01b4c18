/**
 * src/ingest: how samples get in. Decodes every protocol into {@link Sample}s with the same
 * rules (validate.ts), registers the HTTP ingest routes on a fastify instance it is given, and
 * hands samples to a {@link SampleSink}. It never runs detectors and knows nothing of the keyed
 * runtime or alerts: the wiring layer (src/app) supplies the sink.
 */
export type { Sample, SampleSink, SubmitResult, RejectedItem, RejectCode, IngestSource } from './types.js';
export { IngestError, type IngestErrorCode } from './errors.js';
export {
  makeSample,
  checkLabels,
  checkMetricName,
  checkTimestamp,
  checkValue,
  MIN_TIMESTAMP_MS,
  type SampleLimits,
  type Checked,
} from './validate.js';
export {
  registerJsonIngest,
  decodeJsonSamples,
  mergeAnswer,
  type IngestRouteDeps,
  type IngestAnswer,
} from './http-json.js';
export {
  IngestConfigSchema,
  HttpIngestConfigSchema,
  type IngestConfig,
  type HttpIngestConfig,
} from './config.js';
export {
  registerRemoteWrite,
  registerOtlp,
  registerInflux,
  decodeRemoteWrite,
  decodeOtlpProtobuf,
  decodeOtlpJson,
  decodeInflux,
  type OtlpOptions,
  type InfluxPrecision,
  type DecodedBatch,
  type LocatedRejection,
} from './protocols/index.js';
export * from './kafka/index.js';
