import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Sample } from './exposition.ts';
import { counterIncrease, histogramIncrease, histograms, quantile, total, type Histogram } from './rates.ts';

const INF = Number.POSITIVE_INFINITY;

function h(bounds: [number, number][], sum = 0): Histogram {
  const buckets = bounds.map(([le, count]) => ({ le, count }));
  return { buckets, count: buckets.at(-1)?.count ?? 0, sum };
}

function series(name: string, labels: Record<string, string>, value: number): Sample {
  return { name, labels, value };
}

test('histogram series are summed over their label sets, or grouped by one label', () => {
  const samples: Sample[] = [];
  for (const [op, counts] of [
    ['Put', [1, 3]],
    ['Range', [2, 2]],
  ] as const) {
    samples.push(series('a_bucket', { op, le: '0.1' }, counts[0]));
    samples.push(series('a_bucket', { op, le: '+Inf' }, counts[1]));
    samples.push(series('a_count', { op }, counts[1]));
    samples.push(series('a_sum', { op }, 0.5));
  }
  assert.deepEqual(
    histograms(samples).get(''),
    h(
      [
        [0.1, 3],
        [INF, 5],
      ],
      1,
    ),
  );
  const byOp = histograms(samples, 'op');
  assert.deepEqual(
    byOp.get('Put'),
    h(
      [
        [0.1, 1],
        [INF, 3],
      ],
      0.5,
    ),
  );
  assert.deepEqual(
    byOp.get('Range'),
    h(
      [
        [0.1, 2],
        [INF, 2],
      ],
      0.5,
    ),
  );
  assert.equal(histograms(undefined).size, 0);
  assert.equal(total([series('c', {}, 2), series('c', { x: '1' }, 3)]), 5);
  assert.equal(total(undefined), undefined);
});

test('the increase between two readings, counter and histogram, with resets', () => {
  assert.equal(counterIncrease(10, 15, false), 5);
  // Went down: the process restarted; all it counts now is new.
  assert.equal(counterIncrease(10, 3, false), 3);
  assert.equal(counterIncrease(10, 12, true), 12);
  assert.equal(counterIncrease(undefined, 4, false), 4);

  const before = h(
    [
      [0.01, 90],
      [0.1, 99],
      [INF, 100],
    ],
    2,
  );
  const after = h(
    [
      [0.01, 100],
      [0.1, 100],
      [INF, 120],
    ],
    5,
  );
  assert.deepEqual(
    histogramIncrease(before, after, false),
    h(
      [
        [0.01, 10],
        [0.1, 1],
        [INF, 20],
      ],
      3,
    ),
  );
  // A series absent before was created since: all of it is new.
  assert.deepEqual(histogramIncrease(undefined, after, false), after);
  // Fewer observations, or any bucket lower: a reset.
  const reset = h(
    [
      [0.01, 5],
      [0.1, 6],
      [INF, 6],
    ],
    0.1,
  );
  assert.deepEqual(histogramIncrease(before, reset, false), reset);
  assert.deepEqual(
    histogramIncrease(
      before,
      h([
        [0.01, 80],
        [0.1, 120],
        [INF, 130],
      ]),
      false,
    ),
    h([
      [0.01, 80],
      [0.1, 120],
      [INF, 130],
    ]),
  );
  assert.deepEqual(histogramIncrease(before, after, true), after);
});

test('quantiles as histogram_quantile computes them', () => {
  // 100 observations: 50 <= 1 ms, 40 in (1, 2], 9 in (2, 4], 1 in (4, +Inf).
  const x = h([
    [0.001, 50],
    [0.002, 90],
    [0.004, 99],
    [INF, 100],
  ]);
  // rank 50 falls at the top of the first bucket: linear from 0.
  assert.equal(quantile(0.5, x), 0.001);
  // rank 90: the top of (1, 2].
  assert.equal(quantile(0.9, x), 0.002);
  // rank 95: 5 of the 9 in (2, 4] -> 2 + 2 * 5/9 ms.
  assert.ok(Math.abs((quantile(0.95, x) ?? 0) - (0.002 + 0.002 * (5 / 9))) < 1e-12);
  // rank 99.5 lands in +Inf: the largest finite bound is all that is known.
  assert.equal(quantile(0.995, x), 0.004);
  // rank 0.25 of 1 observation in the first bucket: a quarter of the way from 0.
  assert.equal(
    quantile(
      0.25,
      h([
        [0.004, 1],
        [INF, 1],
      ]),
    ),
    0.001,
  );
  // Nothing observed: no figure (not zero).
  assert.equal(
    quantile(
      0.99,
      h([
        [0.001, 0],
        [INF, 0],
      ]),
    ),
    undefined,
  );
  assert.equal(quantile(0.99, h([[INF, 3]])), undefined);
});
