/**
 * Messages between the main thread and a worker. Samples travel in batches of typed arrays whose
 * buffers are transferred (no per-sample structured clone); key strings cross once, when a key
 * is first sent to its worker (`newKeys`), and are then referred to by a worker-local id.
 */
export interface NewKeys {
  readonly ids: Int32Array;
  readonly keys: string[];
  readonly keyGroups: Int32Array;
}

export type ToWorker =
  | {
      readonly t: 'init';
      readonly workerIndex: number;
      readonly operatorModule: string;
      readonly operatorOptions: unknown;
      readonly broadcasts: readonly unknown[];
      /** Two f64: the worker-local key id and ts of the sample being processed (id −1: none). */
      readonly probe: SharedArrayBuffer;
    }
  | {
      readonly t: 'batch';
      readonly seq: number;
      readonly n: number;
      readonly newKeys: NewKeys | undefined;
      readonly ids: Int32Array;
      readonly ts: Float64Array;
      readonly values: Float64Array;
    }
  | {
      /** Restores keys: states[i] is the bytes states.subarray(offsets[i], offsets[i+1]). */
      readonly t: 'restore';
      readonly seq: number;
      readonly ids: Int32Array;
      readonly keys: string[];
      readonly keyGroups: Int32Array;
      readonly lastTs: Float64Array;
      readonly lastValues: Float64Array;
      readonly offsets: Uint32Array;
      readonly states: Uint8Array;
    }
  | {
      readonly t: 'snapshot';
      readonly seq: number;
      readonly keyGroups: readonly number[] | undefined;
      /** Where to write the groups if they fit (reused across snapshots); else the worker allocates. */
      readonly into: SharedArrayBuffer | undefined;
    }
  | { readonly t: 'drop'; readonly seq: number; readonly keyGroups: readonly number[] }
  | { readonly t: 'query'; readonly seq: number; readonly id: number; readonly query: unknown }
  | { readonly t: 'queryAll'; readonly seq: number; readonly query: unknown; readonly limit: number }
  | { readonly t: 'broadcast'; readonly message: unknown }
  | { readonly t: 'expire'; readonly seq: number; readonly olderThanMs: number };

/** One operator output, tagged with its key. */
export interface WireOutput {
  readonly key: string;
  readonly keyGroup: number;
  readonly output: unknown;
}

export interface WireError {
  readonly code: string;
  readonly message: string;
  readonly key?: string;
}

export type FromWorker =
  | { readonly t: 'ready' }
  | {
      readonly t: 'ack';
      readonly seq: number;
      readonly processed: number;
      /** Samples dropped because their timestamp was not after the key's last one (replays). */
      readonly stale: number;
      readonly outputs: readonly WireOutput[];
      readonly errors: readonly WireError[];
      /** The operator's `stats()` snapshot, when it changed (at most about once a second). */
      readonly stats?: Readonly<Record<string, number>>;
    }
  | {
      readonly t: 'snapshot';
      readonly seq: number;
      /** The buffer holding the groups: the `into` buffer, or a bigger one when they did not fit. */
      readonly buffer: SharedArrayBuffer;
      /** One encoded blob per key group (requested, or held when none were named): buffer[offset, offset + length). */
      readonly groups: readonly {
        readonly keyGroup: number;
        readonly offset: number;
        readonly length: number;
        readonly keys: number;
      }[];
    }
  | { readonly t: 'reply'; readonly seq: number; readonly result: unknown }
  | { readonly t: 'expired'; readonly seq: number; readonly keys: string[] }
  | { readonly t: 'fatal'; readonly error: WireError };
