import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  forgetScans,
  planHash,
  recordFailedScan,
  recordScan,
  type HashKind,
  type HashMemory,
  type HashPlan,
  type VoterState,
} from './hash-policy.ts';

const old = (c: bigint | undefined): VoterState => ({ compactRevision: c, keepsCompactionHashes: false });
const cached = (c: bigint | undefined): VoterState => ({ compactRevision: c, keepsCompactionHashes: true });
const IDLE = 600;
const TIMEOUT = 30;

/** One round: the plan, recorded as the session does when the hash reaches a verdict (ok) or not. */
function round(
  memory: HashMemory,
  voters: VoterState[],
  r: bigint,
  nowMs: number,
  outcome: 'ok' | 'failed' = 'ok',
): HashPlan {
  const plan = planHash({ voters, checkedRevision: r, nowMs, idleSeconds: IDLE }, memory);
  if ((plan.kind === 'compaction-scan' || plan.kind === 'recent') && outcome === 'ok')
    recordScan(memory, plan, nowMs);
  if ((plan.kind === 'compaction-scan' || plan.kind === 'recent') && outcome === 'failed')
    recordFailedScan(memory, nowMs, IDLE, TIMEOUT);
  return plan;
}

/** A plan that hashes: its kind, the revision to hash, the compaction it covers and why. */
const hashAt = (kind: HashKind, target: bigint, compaction: bigint, why: string): HashPlan => ({
  kind,
  target,
  compaction,
  why,
});

const kindTarget = (p: HashPlan): string => ('target' in p ? `${p.kind}@${p.target}` : p.kind);

test('never compacted: a recent-revision scan at once, then once per idle period', () => {
  const m: HashMemory = {};
  assert.deepEqual(
    round(m, [old(-1n), old(-1n)], 100n, 0),
    hashAt('recent', 100n, 0n, 'scan, never compacted'),
  );
  const between = round(m, [old(-1n), old(-1n)], 150n, 60_000);
  assert.equal(between.kind, 'reuse');
  assert.match(
    'note' in between ? between.note : '',
    /never compacted: next hash at a recent revision 600 s/,
  );
  assert.equal(kindTarget(round(m, [old(-1n), old(-1n)], 900n, 600_000)), 'recent@900');
});

test('etcd < 3.5.5: one scan per compaction at the checked revision (the compact revision itself is refused), then the verdict stands', () => {
  const m: HashMemory = {};
  assert.deepEqual(
    round(m, [old(50n), old(50n)], 100n, 1000),
    hashAt('compaction-scan', 100n, 50n, 'scan after compaction 50'),
  );
  assert.equal(round(m, [old(50n), old(50n)], 120n, 2000).kind, 'reuse');
  assert.equal(kindTarget(round(m, [old(80n), old(80n)], 130n, 3000)), 'compaction-scan@130');
  assert.equal(round(m, [old(80n), old(80n)], 140n, 4000).kind, 'reuse');
});

test('a scan counts only once it reached a verdict; failed scans back off up to the idle period', () => {
  const m: HashMemory = {};
  assert.equal(kindTarget(round(m, [old(50n), old(50n)], 100n, 0, 'failed')), 'compaction-scan@100');
  // The first retry after hashTimeoutSeconds, then twice that, never more than idleSeconds.
  const wait = round(m, [old(50n), old(50n)], 101n, 10_000);
  assert.equal(wait.kind, 'reuse');
  assert.match(
    'note' in wait ? wait.note : '',
    /the last 1 hash scan\(s\) reached no verdict; next attempt in 20 s/,
  );
  assert.equal(kindTarget(round(m, [old(50n), old(50n)], 102n, 30_000, 'failed')), 'compaction-scan@102');
  assert.equal(round(m, [old(50n), old(50n)], 103n, 89_000).kind, 'reuse');
  assert.equal(kindTarget(round(m, [old(50n), old(50n)], 104n, 90_000, 'failed')), 'compaction-scan@104');
  for (let i = 0; i < 6; i++) recordFailedScan(m, 90_000, IDLE, TIMEOUT);
  assert.equal(m.retryAtMs, 90_000 + IDLE * 1000, 'capped at the idle period');
  assert.equal(kindTarget(round(m, [old(50n), old(50n)], 105n, 690_000)), 'recent@105');
  assert.equal(m.failedScans, undefined, 'a verdict resets the backoff');
  assert.equal(m.scannedCompaction, 50n, 'the recent scan covers the compaction');
  assert.equal(round(m, [old(50n), old(50n)], 106n, 700_000).kind, 'reuse');
  // A new compaction gets its scan even while a failed one backs off.
  round(m, [old(70n), old(70n)], 110n, 710_000, 'failed');
  assert.equal(round(m, [old(70n), old(70n)], 111n, 711_000).kind, 'reuse');
  assert.equal(kindTarget(round(m, [old(90n), old(90n)], 120n, 712_000)), 'compaction-scan@120');
});

test('3.5.5+: the cached compaction hash every round while compactions come; no backoff for it', () => {
  const m: HashMemory = {};
  assert.deepEqual(
    round(m, [cached(50n), cached(50n)], 100n, 1000),
    hashAt('cached', 50n, 50n, 'cached compaction hash'),
  );
  assert.equal(kindTarget(round(m, [cached(50n), cached(50n)], 110n, 2000)), 'cached@50');
  assert.equal(kindTarget(round(m, [cached(80n), cached(80n)], 120n, 300_000)), 'cached@80');
});

test('a member that lost its cached hash (restart): one scan for that compaction, then cached again', () => {
  const m: HashMemory = {};
  assert.equal(kindTarget(round(m, [cached(50n), cached(50n)], 100n, 1000)), 'cached@50');
  assert.equal(kindTarget(round(m, [cached(50n), old(50n)], 101n, 2000)), 'compaction-scan@101');
  assert.equal(round(m, [cached(50n), old(50n)], 102n, 3000).kind, 'reuse');
  assert.equal(kindTarget(round(m, [cached(90n), cached(90n)], 130n, 4000)), 'cached@90');
});

test('no compaction for the idle period: a recent-revision scan, on every version, then cached again', () => {
  const m: HashMemory = {};
  round(m, [cached(50n)], 100n, 1000);
  assert.deepEqual(
    round(m, [cached(50n)], 400n, 601_000),
    hashAt('recent', 400n, 50n, 'scan, no compaction for 600 s'),
  );
  assert.equal(kindTarget(round(m, [cached(50n)], 410n, 602_000)), 'cached@50');
  assert.equal(kindTarget(round(m, [cached(50n)], 900n, 1_201_000)), 'recent@900');
});

test('nothing written since the compaction: the cached hash covers it all; without a cache, no hash until a write', () => {
  const m: HashMemory = {};
  assert.equal(kindTarget(round({}, [cached(100n), cached(100n)], 100n, 601_000)), 'cached@100');
  const none = round(m, [old(100n), old(100n)], 100n, 0);
  assert.equal(none.kind, 'unknown');
  assert.match('note' in none ? none.note : '', /nothing written since compaction 100/);
  assert.equal(kindTarget(round(m, [old(100n), old(100n)], 101n, 1000)), 'compaction-scan@101');
});

test('mid-compaction or unknown compact revisions: no hash this round', () => {
  const split = round({}, [old(50n), old(80n)], 100n, 0);
  assert.equal(split.kind, 'unknown');
  assert.match('note' in split ? split.note : '', /different compact revisions \(50, 80\)/);
  assert.equal(round({}, [old(50n), old(undefined)], 100n, 0).kind, 'unknown');
  assert.equal(round({}, [], 100n, 0).kind, 'unknown');
});

test('a new membership forgets the scans: the next round scans again', () => {
  const m: HashMemory = {};
  round(m, [old(50n), old(50n)], 100n, 0);
  assert.equal(round(m, [old(50n), old(50n)], 101n, 1000).kind, 'reuse');
  forgetScans(m);
  assert.equal(kindTarget(round(m, [old(50n), old(50n), old(50n)], 102n, 2000)), 'compaction-scan@102');
});
