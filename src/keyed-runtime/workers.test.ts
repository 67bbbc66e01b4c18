import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveWorkerCount } from './runtime.js';

test('workers "auto": cores − 1, but 2 on two cores and 1 on one; a number is taken as is', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 8, 16].map((cores) => resolveWorkerCount('auto', cores)),
    [1, 2, 2, 3, 7, 15],
  );
  assert.equal(resolveWorkerCount(5, 2), 5);
});
