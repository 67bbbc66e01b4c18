/**
 * Deterministic synthetic series for tests and benchmarks: a daily cycle plus noise from a seeded
 * PRNG (mulberry32), so every run sends the same values.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal from a uniform PRNG (Box–Muller). */
export function gaussian(rand: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** `n` points every `stepMs` ending before `endMs`: 1000 + 400·sin(daily) + N(0, 20). */
export function dailySeries(
  n: number,
  stepMs: number,
  endMs: number,
  seed = 1,
): { ts: number; value: number }[] {
  const g = gaussian(mulberry32(seed));
  const start = endMs - n * stepMs;
  return Array.from({ length: n }, (_, i) => {
    const ts = start + i * stepMs;
    return { ts, value: 1000 + 400 * Math.sin((2 * Math.PI * ts) / 86_400_000) + 20 * g() };
  });
}
