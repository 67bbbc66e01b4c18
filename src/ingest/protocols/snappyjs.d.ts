// Types for snappyjs 0.7 (it ships none). Used by tests and benches to produce real snappy
// bodies; the routes decode with ./snappy.ts.
declare module 'snappyjs' {
  /** Snappy block-format compression (same type out as in). */
  export function compress<T extends Uint8Array | ArrayBuffer>(uncompressed: T): T;
  /** Snappy block-format decompression; `maxLength` bounds the declared size (bytes). */
  export function uncompress<T extends Uint8Array | ArrayBuffer>(compressed: T, maxLength?: number): T;
  const snappy: { compress: typeof compress; uncompress: typeof uncompress };
  export default snappy;
}
