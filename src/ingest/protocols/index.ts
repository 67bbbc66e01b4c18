/**
 * The ecosystem's ingest protocols: Prometheus remote write 1.0, OTLP/HTTP metrics (protobuf and
 * JSON) and Influx line protocol (v2 and v1 write endpoints). Each maps onto the same samples,
 * series keys, limits and sink as the JSON API (`../http-json.ts`); see each file's header for its
 * naming rules and answers. Re-exported by `src/ingest/index.ts`.
 */
export { registerRemoteWrite, decodeRemoteWrite, decodeWriteRequest } from './remote-write.js';
export {
  registerOtlp,
  decodeOtlpProtobuf,
  decodeOtlpJson,
  encodeExportResponse,
  type OtlpOptions,
  type OtlpBatch,
} from './otlp.js';
export { registerInflux, decodeInflux, parseInfluxPrecision, type InfluxPrecision } from './influx.js';
export type { DecodedBatch, LocatedRejection, ProtocolOutcome } from './common.js';
