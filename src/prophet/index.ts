/**
 * src/prophet: a Prophet-style forecaster (Taylor & Letham 2018): piecewise-linear trend with
 * sparse changepoints, Fourier seasonalities on absolute time, step regressors, fitted as
 * Prophet's MAP by regularised least squares. Pure (no I/O, clock or randomness); the model is
 * plain data. May import src/detectors; never the reverse.
 */
export {
  designLayout,
  designRows,
  phaseOf,
  type DesignSpec,
  type DesignLayout,
  type DesignRows,
  type Seasonality,
} from './design.js';
export {
  PRIOR_NONE,
  PRIOR_NORMAL,
  PRIOR_LAPLACE,
  addRow,
  newNormalEquations,
  residualSumOfSquares,
  solveMap,
  symmetrize,
  type MapOptions,
  type MapResult,
  type NormalEquations,
  type Priors,
} from './map.js';
export { choleskyInPlace, choleskySolveInPlace, solveRidge } from './linalg.js';
export {
  autoSeasonalities,
  changepointGrid,
  columnPriors,
  fitProphet,
  forecast,
  predict,
  type Prediction,
  type ProphetData,
  type ProphetModel,
  type ProphetOptions,
} from './model.js';
