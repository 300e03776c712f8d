import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../clock.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import {
  BucketRateLimiter,
  ItemExponentialFailureRateLimiter,
  MaxOfRateLimiter,
  TokenBucket,
  defaultControllerRateLimiter,
} from './ratelimit.ts';

test('exponential backoff doubles from the base per failure, per item, and caps at the maximum', () => {
  const limiter = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
  const delays = Array.from({ length: 20 }, () => limiter.when('a'));
  assert.deepEqual(delays.slice(0, 6), [5, 10, 20, 40, 80, 160]);
  // 5 ms * 2^17 = 655.36 s is the last uncapped value; 2^18 would exceed 1000 s.
  assert.equal(delays[17], 655_360);
  assert.equal(delays[18], 1_000_000);
  assert.equal(delays[19], 1_000_000);
  assert.equal(limiter.numRequeues('a'), 20);
  assert.equal(limiter.when('b'), 5, 'another item has its own history');
  assert.equal(limiter.numRequeues('b'), 1);
});

test('forget resets an item to the base delay and zero requeues', () => {
  const limiter = new ItemExponentialFailureRateLimiter<string>(5, 1000);
  for (let i = 0; i < 3; i++) limiter.when('a');
  assert.equal(limiter.numRequeues('a'), 3);
  limiter.forget('a');
  assert.equal(limiter.numRequeues('a'), 0);
  assert.equal(limiter.when('a'), 5);
});

test('a huge failure count never overflows the cap', () => {
  const limiter = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
  for (let i = 0; i < 2000; i++) limiter.when('a');
  assert.equal(limiter.when('a'), 1_000_000);
});

test('the token bucket serves its burst at once, then paces reservations at 1/qps', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(10, 100, clock);
  for (let i = 0; i < 100; i++) assert.equal(bucket.reserve(), 0, `reservation ${i} is within the burst`);
  assert.equal(bucket.reserve(), 100);
  assert.equal(bucket.reserve(), 200);
  assert.equal(bucket.reserve(), 300);
  // 0.5 s later five tokens were added to the -3 balance.
  await clock.advance(500);
  assert.ok(Math.abs(bucket.tokens() - 2) < 1e-9);
  // Refill is capped at the burst.
  await clock.advance(3_600_000);
  assert.equal(bucket.tokens(), 100);
});

test('tryTake only takes a token that exists, and delayUntilToken says when one will', async () => {
  const clock = new FakeClock();
  const bucket = new TokenBucket(1 / 300, 2, clock); // one token per five minutes
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), true);
  assert.equal(bucket.tryTake(), false);
  assert.equal(bucket.delayUntilToken(), 300_000);
  await clock.advance(299_000);
  assert.equal(bucket.tryTake(), false);
  await clock.advance(1_000);
  assert.equal(bucket.delayUntilToken(), 0);
  assert.equal(bucket.tryTake(), true);
});

test('the bucket limiter is shared by all items and has no per-item history', () => {
  const clock = new FakeClock();
  const limiter = new BucketRateLimiter<string>(1, 1, clock);
  assert.equal(limiter.when('a'), 0);
  assert.equal(limiter.when('b'), 1000);
  assert.equal(limiter.numRequeues('a'), 0);
});

test('the default controller limiter is the max of per-item backoff and the overall 10 qps / 100 bucket', () => {
  const clock = new FakeClock();
  const limiter = defaultControllerRateLimiter<string>(clock);
  // 100 distinct items: within the burst, each gets the per-item base delay.
  for (let i = 0; i < 100; i++) assert.equal(limiter.when(`item-${i}`), 5);
  // The bucket now dominates a first failure.
  assert.equal(limiter.when('item-100'), 100);
  assert.equal(limiter.when('item-101'), 200);
  // An item with many failures is dominated by its own backoff.
  for (let i = 0; i < 12; i++) limiter.when('hot');
  assert.equal(limiter.numRequeues('hot'), 12);
  assert.equal(limiter.when('hot'), 5 * 2 ** 12);
  limiter.forget('hot');
  assert.equal(limiter.numRequeues('hot'), 0);
});

test('max-of forwards forget and reports the largest requeue count', () => {
  const a = new ItemExponentialFailureRateLimiter<string>(1, 100);
  const b = new ItemExponentialFailureRateLimiter<string>(2, 100);
  const limiter = new MaxOfRateLimiter(a, b);
  assert.equal(limiter.when('x'), 2);
  b.when('x');
  assert.equal(limiter.numRequeues('x'), 2);
  limiter.forget('x');
  assert.equal(a.numRequeues('x'), 0);
  assert.equal(b.numRequeues('x'), 0);
});

test('invalid limiter parameters are rejected with clear errors', () => {
  assert.throws(() => new TokenBucket(0, 1), /qps must be a positive number, got 0/);
  assert.throws(() => new TokenBucket(1, 0.5), /burst must be a positive integer, got 0.5/);
  assert.throws(() => new ItemExponentialFailureRateLimiter(10, 5), /0 < base <= max/);
  assert.throws(() => new MaxOfRateLimiter(), /at least one limiter/);
});

test('sleep resolves on the clock and rejects when aborted, leaving no timer behind', async () => {
  const clock = new FakeClock();
  let woke = false;
  const s = sleep(clock, 100).then(() => (woke = true));
  await clock.advance(99);
  assert.equal(woke, false);
  await clock.advance(1);
  await s;
  assert.equal(woke, true);

  const abort = new AbortController();
  const aborted = sleep(clock, 100, abort.signal);
  assert.equal(clock.pendingTimers, 1);
  abort.abort(new Error('stop'));
  await assert.rejects(aborted, /stop/);
  assert.equal(clock.pendingTimers, 0);
});
