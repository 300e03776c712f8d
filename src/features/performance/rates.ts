/**
 * The arithmetic of two readings of a member's /metrics: histograms summed
 * over their label sets, the difference between two readings (what
 * happened in the interval, never since the process started), counter
 * resets, and quantiles from bucket differences the way Prometheus's
 * histogram_quantile computes them (linear within a bucket).
 */
import type { Sample } from './exposition.ts';

export interface Bucket {
  /** Upper bound, inclusive; the last bucket's is +Inf. */
  readonly le: number;
  /** Cumulative count of observations <= le. */
  readonly count: number;
}

export interface Histogram {
  /** Sorted by le, cumulative, ending with +Inf. */
  readonly buckets: readonly Bucket[];
  readonly count: number;
  readonly sum: number;
}

/**
 * A family's histogram series summed across their label sets, grouped by the
 * value of label `by` ('' for all in one). Series without a `le` label or an
 * unparsable one are ignored.
 */
export function histograms(samples: readonly Sample[] | undefined, by?: string): Map<string, Histogram> {
  const groups = new Map<string, { buckets: Map<number, number>; count: number; sum: number }>();
  for (const s of samples ?? []) {
    const key = by === undefined ? '' : (s.labels[by] ?? '');
    let g = groups.get(key);
    if (g === undefined) {
      g = { buckets: new Map(), count: 0, sum: 0 };
      groups.set(key, g);
    }
    if (s.name.endsWith('_bucket')) {
      const leText = s.labels['le'];
      const le = leText === '+Inf' ? Number.POSITIVE_INFINITY : Number(leText);
      if (leText === undefined || Number.isNaN(le)) continue;
      g.buckets.set(le, (g.buckets.get(le) ?? 0) + s.value);
    } else if (s.name.endsWith('_count')) g.count += s.value;
    else if (s.name.endsWith('_sum')) g.sum += s.value;
  }
  const out = new Map<string, Histogram>();
  for (const [key, g] of groups) {
    const buckets = [...g.buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([le, count]) => ({ le, count }));
    if (buckets.length === 0) continue;
    out.set(key, { buckets, count: g.count, sum: g.sum });
  }
  return out;
}

/** The sum of a family's series (e.g. a counter with labels), or undefined when the family is absent. */
export function total(samples: readonly Sample[] | undefined): number | undefined {
  if (samples === undefined || samples.length === 0) return undefined;
  return samples.reduce((acc, s) => acc + s.value, 0);
}

/**
 * What a counter counted between two readings. A counter that went down was
 * reset (the process restarted): everything it counts now happened since.
 */
export function counterIncrease(previous: number | undefined, current: number, restarted: boolean): number {
  if (previous === undefined || restarted || current < previous) return current;
  return current - previous;
}

/**
 * The observations between two readings. A series absent from the previous
 * reading of the same process was created since: all of it is new. Any
 * bucket that went down means a reset: the current reading is the increase.
 */
export function histogramIncrease(
  previous: Histogram | undefined,
  current: Histogram,
  restarted: boolean,
): Histogram {
  if (previous === undefined || restarted || current.count < previous.count) return current;
  const before = new Map(previous.buckets.map((b) => [b.le, b.count]));
  const buckets: Bucket[] = [];
  for (const b of current.buckets) {
    const was = before.get(b.le) ?? 0;
    if (b.count < was) return current;
    buckets.push({ le: b.le, count: b.count - was });
  }
  return { buckets, count: current.count - previous.count, sum: Math.max(0, current.sum - previous.sum) };
}

/**
 * The q-quantile (0..1) of a histogram's observations, as Prometheus's
 * histogram_quantile: the bucket where the rank falls, linear inside it
 * (from 0 for the first bucket); in the +Inf bucket, the largest finite
 * bound. undefined when nothing was observed.
 */
export function quantile(q: number, h: Histogram): number | undefined {
  const { buckets } = h;
  const last = buckets.at(-1);
  if (last === undefined || last.count <= 0) return undefined;
  const rank = q * last.count;
  let index = buckets.findIndex((b) => b.count >= rank);
  if (index === -1) index = buckets.length - 1;
  const bucket = buckets[index] as Bucket;
  if (bucket.le === Number.POSITIVE_INFINITY) {
    // Above the largest finite bound: that bound is all that is known.
    return buckets.length >= 2 ? (buckets[buckets.length - 2] as Bucket).le : undefined;
  }
  const lower = index === 0 ? (bucket.le > 0 ? 0 : bucket.le) : (buckets[index - 1] as Bucket).le;
  const countBefore = index === 0 ? 0 : (buckets[index - 1] as Bucket).count;
  const inBucket = bucket.count - countBefore;
  if (inBucket <= 0) return bucket.le;
  return lower + (bucket.le - lower) * ((rank - countBefore) / inBucket);
}

/** Observations above `bound` (by the bucket bounds: those of buckets with le > bound). */
export function countAbove(h: Histogram, bound: number): number {
  const last = h.buckets.at(-1);
  if (last === undefined) return 0;
  let atOrBelow = 0;
  for (const b of h.buckets) if (b.le <= bound) atOrBelow = b.count;
  return last.count - atOrBelow;
}
