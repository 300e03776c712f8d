import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffMs, failuresAfter, pickWatchMember, type WatchCandidate } from './resume.ts';

test('backoff: 100 ms doubling to 5 s, with bounded jitter', () => {
  const mid = (): number => 0.5;
  assert.deepEqual(
    [1, 2, 3, 4, 5, 6, 7, 8, 50].map((f) => backoffMs(f, mid)),
    [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000],
  );
  assert.equal(
    backoffMs(1, () => 0),
    80,
  );
  assert.equal(
    backoffMs(10, () => 0.999999),
    6000,
  );
});

test('failures reset after an attempt that stayed established long enough', () => {
  assert.equal(failuresAfter(0, undefined), 1);
  assert.equal(failuresAfter(3, undefined), 4, 'never established');
  assert.equal(failuresAfter(3, 200), 4, 'flapping');
  assert.equal(failuresAfter(6, 60_000), 1);
});

const m = (url: string | undefined, leader = false, responsive = true): WatchCandidate => ({
  url,
  leader,
  responsive,
});

test('first choice: a responsive follower, else the leader, else any member with a URL', () => {
  assert.equal(pickWatchMember([m('a', true), m('b'), m('c')], undefined), 1);
  assert.equal(pickWatchMember([m('a', true), m('b', false, false), m('c')], undefined), 2);
  assert.equal(pickWatchMember([m('a', true), m('b', false, false)], undefined), 0);
  assert.equal(pickWatchMember([m(undefined), m('b', false, false)], undefined), 1);
  assert.equal(pickWatchMember([m(undefined)], undefined), undefined);
  assert.equal(pickWatchMember([], undefined), undefined);
});

test('after a failure: the next member in order, wrapping, skipping unresponsive ones', () => {
  const three = [m('a', true), m('b'), m('c')];
  assert.equal(pickWatchMember(three, 'b'), 2);
  assert.equal(pickWatchMember(three, 'c'), 0);
  assert.equal(pickWatchMember([m('a'), m('b', false, false), m('c')], 'a'), 2);
  // All others unresponsive: still rotate (discovery may be stale).
  assert.equal(pickWatchMember([m('a'), m('b', false, false)], 'a'), 1);
  // Only one member: retry it.
  assert.equal(pickWatchMember([m('a')], 'a'), 0);
  // The failed member left the membership: a fresh choice.
  assert.equal(pickWatchMember(three, 'gone'), 1);
  assert.equal(pickWatchMember([m('a'), m(undefined), m('c')], 'a'), 2);
});
