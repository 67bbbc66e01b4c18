/**
 * Loads the official .proto files beside this module with protobufjs, for tests and benches that
 * build canonical payloads (the routes decode with hand-written readers and never load these).
 *
 * The .proto files are not compiled into dist/, so they are looked up in the source tree: from
 * this module's directory upwards, the first `src/ingest/protocols/proto` that holds them.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

/** Directory holding `prometheus/` and `opentelemetry/`. */
export function protoDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(join(dir, 'prometheus', 'remote.proto'))) return dir;
    const candidate = join(dir, 'src', 'ingest', 'protocols', 'proto');
    if (existsSync(join(candidate, 'prometheus', 'remote.proto'))) return candidate;
    dir = dirname(dir);
  }
  throw new Error('src/ingest/protocols/proto not found above ' + fileURLToPath(import.meta.url));
}

function load(files: string[], includeDir: string): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string) => join(includeDir, target);
  root.loadSync(files, { keepCase: false });
  root.resolveAll();
  return root;
}

/** `prometheus.WriteRequest` and friends (remote.proto + types.proto). */
export function loadPrometheusRoot(): protobuf.Root {
  const dir = join(protoDir(), 'prometheus');
  return load(['remote.proto'], dir);
}

/** OTLP metrics: `opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest` and friends. */
export function loadOtlpRoot(): protobuf.Root {
  return load(['opentelemetry/proto/collector/metrics/v1/metrics_service.proto'], protoDir());
}
