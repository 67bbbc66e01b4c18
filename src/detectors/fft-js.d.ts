// Types for the dev-only test oracle fft-js 0.0.12 (it ships none): `fft` of a power-of-two
// real or [re, im] array returns [re, im] pairs, unscaled, e^{-iωt} convention.
declare module 'fft-js' {
  export function fft(signal: readonly number[] | readonly (readonly [number, number])[]): [number, number][];
  export function ifft(phasors: readonly (readonly [number, number])[]): [number, number][];
  const fftJs: { fft: typeof fft; ifft: typeof ifft };
  export default fftJs;
}
