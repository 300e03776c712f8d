import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planHash, type HashMemory } from './hash-policy.ts';

const old = (c: bigint | undefined) => ({ compactRevision: c, keepsCompactionHashes: false });
const cached = (c: bigint | undefined) => ({ compactRevision: c, keepsCompactionHashes: true });
const IDLE = 600;

test('never compacted: a recent-revision hash at once, then once per idle period', () => {
  const m: HashMemory = {};
  assert.deepEqual(planHash([old(-1n), old(-1n)], 100n, m, 0, IDLE), { kind: 'recent', target: 100n });
  assert.equal(planHash([old(-1n), old(-1n)], 150n, m, 60_000, IDLE).kind, 'reuse');
  assert.deepEqual(planHash([old(-1n), old(-1n)], 900n, m, 600_000, IDLE), { kind: 'recent', target: 900n });
});

test('3.4: one scan per compaction at its revision, then the verdict stands', () => {
  const m: HashMemory = { recentAtMs: 0 };
  assert.deepEqual(planHash([old(50n), old(50n)], 100n, m, 1000, IDLE), {
    kind: 'compaction-scan',
    target: 50n,
  });
  assert.equal(planHash([old(50n), old(50n)], 120n, m, 2000, IDLE).kind, 'reuse');
  assert.deepEqual(planHash([old(80n), old(80n)], 130n, m, 3000, IDLE), {
    kind: 'compaction-scan',
    target: 80n,
  });
});

test('3.5.5+: the cached compaction hash every round while compactions come', () => {
  const m: HashMemory = { recentAtMs: 0 };
  assert.deepEqual(planHash([cached(50n), cached(50n)], 100n, m, 1000, IDLE), {
    kind: 'cached',
    target: 50n,
  });
  assert.deepEqual(planHash([cached(50n), cached(50n)], 110n, m, 2000, IDLE), {
    kind: 'cached',
    target: 50n,
  });
});

test('no compaction for the idle period: a recent-revision hash, on every version', () => {
  const m: HashMemory = { recentAtMs: 0 };
  planHash([cached(50n)], 100n, m, 1000, IDLE);
  assert.deepEqual(planHash([cached(50n)], 400n, m, 601_000, IDLE), { kind: 'recent', target: 400n });
  assert.deepEqual(planHash([cached(50n)], 410n, m, 602_000, IDLE), { kind: 'cached', target: 50n });
});

test('mid-compaction or unknown compact revisions: no hash this round', () => {
  assert.equal(planHash([old(50n), old(80n)], 100n, {}, 0, IDLE).kind, 'unknown');
  assert.equal(planHash([old(50n), old(undefined)], 100n, {}, 0, IDLE).kind, 'unknown');
});
