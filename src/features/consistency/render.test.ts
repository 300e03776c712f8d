import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { MemberHandle } from '../../engine/contract.ts';
import type { StatusResult } from '../../etcd/types.ts';
import {
  answeredStatus,
  type ConsistencyDetails,
  type ConsistencyOptions,
  type MemberRound,
} from './model.ts';
import { standingMetrics, type V3Round, v3Outcome } from './render.ts';

const options: ConsistencyOptions = {
  prefix: '',
  hashRevision: 'compacted',
  hashTimeoutSeconds: 30,
  hashIdleSeconds: 600,
  v2CountAttempts: 5,
};

function unused(): never {
  throw new Error('render must not talk to a member');
}

function handle(endpoint: string, id: bigint): MemberHandle {
  return {
    snapshot: {
      id,
      name: `m${id}`,
      endpoint,
      clientURLs: [],
      peerURLs: [],
      role: 'follower',
      memberErrors: [],
    },
    endpoint: undefined,
    v3: unused,
    http: unused,
    v2: unused,
  };
}

function status(id: bigint, revision: bigint, raftIndex: bigint): StatusResult {
  return {
    header: { clusterId: 1n, memberId: id, revision, raftTerm: 2n },
    version: '3.5.17',
    dbSize: 0n,
    dbSizeInUse: 0n,
    leader: 1n,
    raftIndex,
    raftTerm: 2n,
    raftAppliedIndex: raftIndex,
    errors: [],
    isLearner: false,
    dbSizeQuota: 0n,
    storageVersion: '',
  };
}

/** Member n at endpoint 127.0.0.1:237n, answering what `answers` gives. */
function member(n: number, answers: Partial<MemberRound>): MemberRound {
  const id = BigInt(n);
  return {
    member: handle(`127.0.0.1:237${n}`, id),
    label: `127.0.0.1:237${n}`,
    errors: [],
    hashState: 'not-checked',
    ...answers,
  };
}

function round(rounds: MemberRound[], verdict: Partial<V3Round>): V3Round {
  return {
    options,
    rounds,
    answered: rounds.filter(answeredStatus),
    checkedRevision: 100n,
    hashRevision: 90n,
    comparison: { mismatch: false, tie: false },
    hash: 'consistent',
    hashNote: '',
    hashKind: 'compacted',
    hashHow: 'compaction',
    hashCheckedAtMs: 1_700_000_000_000,
    nowMs: 1_700_000_000_000,
    ...verdict,
  };
}

const hash = (value: number) => ({
  header: { clusterId: 1n, memberId: 0n, revision: 100n, raftTerm: 2n },
  hash: value,
  compactRevision: 89n,
  hashRevision: 90n,
});

function values(outcome: ReturnType<typeof v3Outcome>, name: string): (bigint | number)[] {
  return outcome.metrics.filter((m) => m.name === name).map((m) => m.value);
}

test('v3Outcome: members that agree give a verdict, every series and the lag', () => {
  const outcome = v3Outcome(
    round(
      [1, 2, 3].map((n) =>
        member(n, {
          status: status(BigInt(n), 100n + BigInt(n), 10n * BigInt(n)),
          keys: 7n,
          hash: hash(5),
          hashState: 'match',
        }),
      ),
      {},
    ),
  );
  assert.equal(outcome.ok, true);
  assert.deepEqual(outcome.problems, []);
  assert.equal(
    outcome.summary,
    '3 member(s) hold 7 keys at revision 100; hashes equal at revision 90 (compaction); lag: revision 2, raft index 20, applied index 20',
  );
  assert.deepEqual(values(outcome, 'inspection_etcd_node_diff_total'), [0n]);
  assert.deepEqual(values(outcome, 'inspection_etcd_consistency_member_keys'), [7n, 7n, 7n]);
  assert.deepEqual(values(outcome, 'inspection_etcd_node_revision_diff_total'), [2n]);
  assert.deepEqual(values(outcome, 'inspection_etcd_consistency_hash_mismatch'), [0]);
  assert.deepEqual(values(outcome, 'inspection_etcd_endpoint_hash_mismatch'), [0, 0, 0]);
  assert.deepEqual(values(outcome, 'inspection_etcd_consistency_hash_timestamp_seconds'), [1_700_000_000]);
  const details = outcome.details as ConsistencyDetails;
  assert.equal(details.checkedRevision, 100n);
  assert.equal(details.keyDiff, 0n);
  assert.equal(details.hashKind, 'compacted');
  assert.equal(details.hashCheckedAt, '2023-11-14T22:13:20.000Z');
  assert.equal(details.hashReused, false);
});

test('v3Outcome: a hash mismatch stands while a member did not answer; unknown groups have no series', () => {
  const rounds = [
    member(1, { status: status(1n, 100n, 10n), keys: 7n, hash: hash(5), hashState: 'match' }),
    member(2, { status: status(2n, 100n, 10n), keys: 7n, hash: hash(5), hashState: 'match' }),
    member(3, { status: status(3n, 100n, 10n), keys: 7n, hash: hash(6), hashState: 'mismatch' }),
    member(4, { errors: ['status: deadline exceeded'] }),
  ];
  const outcome = v3Outcome(round(rounds, { comparison: { mismatch: true, tie: false }, hash: 'mismatch' }));
  assert.equal(outcome.ok, true);
  assert.deepEqual(outcome.problems, [
    'member 127.0.0.1:2373: hash at revision 90 differs from the majority (6 vs 5): its copy of the data diverged; snapshot a member that agrees with the majority, then replace the divergent member (member remove, empty data dir, member add); see docs/runbooks.md (EtcdMemberHashMismatch)',
  ]);
  // The why section: the member, the fact, what to do.
  assert.deepEqual(
    outcome.findings?.map((f) => [f.member, f.cause, f.measure, f.severity, f.runbook, f.value]),
    [
      [
        '127.0.0.1:2373 (m3)',
        'divergent data',
        'hash at revision 90: 6, the majority 5',
        'critical',
        'EtcdMemberHashMismatch',
        undefined,
      ],
    ],
  );
  assert.match(outcome.findings?.[0]?.action ?? '', /replace the divergent member/);
  assert.match(outcome.summary, /HASH MISMATCH at revision 90 \(compaction\): 127\.0\.0\.1:2373/);
  assert.match(outcome.summary, /; unknown: 127\.0\.0\.1:2374: status: deadline exceeded$/);
  assert.deepEqual(values(outcome, 'inspection_etcd_endpoint_hash_mismatch'), [0, 0, 1]);
  // Not every member counted or answered Status: no key or lag series, never a partial one.
  assert.deepEqual(values(outcome, 'inspection_etcd_node_diff_total'), []);
  assert.deepEqual(values(outcome, 'inspection_etcd_node_revision_diff_total'), []);
});

test('v3Outcome: a tie flags every member of the group', () => {
  const rounds = [
    member(1, { status: status(1n, 100n, 10n), keys: 7n, hash: hash(5), hashState: 'mismatch' }),
    member(2, { status: status(2n, 100n, 10n), keys: 7n, hash: hash(6), hashState: 'mismatch' }),
  ];
  const outcome = v3Outcome(round(rounds, { comparison: { mismatch: true, tie: true }, hash: 'mismatch' }));
  assert.deepEqual(outcome.problems, [
    "hashes at revision 90 differ with no majority: 127.0.0.1:2371=5, 127.0.0.1:2372=6: nobody can tell which copy is right; compare the members' data with etcdctl, then replace the divergent one(s); see docs/runbooks.md (EtcdMemberHashMismatch)",
  ]);
  assert.deepEqual(
    outcome.findings?.map((f) => [f.member, f.measure]),
    [
      ['127.0.0.1:2371 (m1)', 'hash at revision 90: 5, no majority (127.0.0.1:2372=6)'],
      ['127.0.0.1:2372 (m2)', 'hash at revision 90: 6, no majority (127.0.0.1:2371=5)'],
    ],
  );
});

test('v3Outcome: nothing wrong but something unknown reaches no verdict', () => {
  const counted = [
    member(1, { status: status(1n, 100n, 10n), keys: 7n }),
    member(2, { status: status(2n, 100n, 10n), errors: ['count at revision 100: timeout'] }),
  ];
  const failed = v3Outcome(
    round(counted, { hashRevision: undefined, hash: 'not-checked', hashNote: 'hashRevision: none' }),
  );
  assert.equal(failed.ok, false);
  assert.equal(failed.summary, 'no verdict: 127.0.0.1:2372: count at revision 100: timeout');
  assert.deepEqual(values(failed, 'inspection_etcd_node_diff_total'), []);
  assert.deepEqual(values(failed, 'inspection_etcd_node_revision_diff_total'), [0n]);

  // An unknown hash with no member to blame says why in the hash note.
  const noPlan = [1, 2].map((n) => member(n, { status: status(BigInt(n), 100n, 10n), keys: 7n }));
  const unknown = v3Outcome(
    round(noPlan, { hashRevision: undefined, hash: 'unknown', hashNote: 'compact revision unknown' }),
  );
  assert.equal(unknown.ok, false);
  assert.equal(unknown.summary, 'no verdict: hash: compact revision unknown');
  assert.deepEqual(values(unknown, 'inspection_etcd_consistency_hash_mismatch'), []);
});

test('v3Outcome: key counts that differ are a finding, with every count', () => {
  const rounds = [
    member(1, { status: status(1n, 100n, 10n), keys: 7n }),
    member(2, { status: status(2n, 100n, 10n), keys: 9n }),
  ];
  const outcome = v3Outcome(
    round(rounds, {
      options: { ...options, prefix: '/registry/' },
      hashRevision: undefined,
      hash: 'not-checked',
      hashNote: 'hashRevision: none',
    }),
  );
  assert.equal(outcome.ok, true);
  assert.deepEqual(outcome.problems, [
    'key counts differ at revision 100: 127.0.0.1:2371=7, 127.0.0.1:2372=9: a member holds other keys than the rest; compare the key lists at that revision, then replace the divergent member; see docs/runbooks.md (EtcdMemberKeyCountDivergence)',
  ]);
  assert.match(
    outcome.summary,
    /^keys under "\/registry\/" differ by 2 at revision 100; hash not checked \(hashRevision: none\)/,
  );
  assert.deepEqual(values(outcome, 'inspection_etcd_node_diff_total'), [2n]);
  // Two members that differ: both are away from the median, both named (as the alert does).
  assert.deepEqual(
    outcome.findings?.map((f) => [f.member, f.measure, f.value, f.threshold, f.unit, f.runbook]),
    [
      [
        '127.0.0.1:2371 (m1)',
        "keys at revision 100: 7, the members' median 8; difference",
        1,
        0,
        'count',
        'EtcdMemberKeyCountDivergence',
      ],
      [
        '127.0.0.1:2372 (m2)',
        "keys at revision 100: 9, the members' median 8; difference",
        1,
        0,
        'count',
        'EtcdMemberKeyCountDivergence',
      ],
    ],
  );
});

test('v3Outcome: of three key counts, the one away from the median is the finding', () => {
  const rounds = [7n, 7n, 4n].map((keys, i) =>
    member(i + 1, { status: status(BigInt(i + 1), 100n, 10n), keys }),
  );
  const outcome = v3Outcome(
    round(rounds, { hashRevision: undefined, hash: 'not-checked', hashNote: 'hashRevision: none' }),
  );
  assert.deepEqual(
    outcome.findings?.map((f) => [f.member, f.value, f.severity]),
    [['127.0.0.1:2373 (m3)', 3, 'critical']],
  );
  // A round where all agree has none.
  const agree = v3Outcome(
    round(
      [1, 2].map((n) =>
        member(n, { status: status(BigInt(n), 100n, 10n), keys: 7n, hash: hash(5), hashState: 'match' }),
      ),
      {},
    ),
  );
  assert.deepEqual(agree.findings, []);
});

test('v3Outcome: a standing verdict (hashRevision auto) is exported again with the time it was reached', () => {
  const rounds = [
    member(1, { status: status(1n, 300n, 10n), keys: 7n, hash: hash(5), hashState: 'match' }),
    member(2, { status: status(2n, 300n, 10n), keys: 7n, hash: hash(5), hashState: 'match' }),
    member(3, { status: status(3n, 300n, 10n), keys: 7n, hash: hash(6), hashState: 'mismatch' }),
  ];
  const reachedAt = 1_700_000_000_000;
  const outcome = v3Outcome(
    round(rounds, {
      options: { ...options, hashRevision: 'auto' },
      checkedRevision: 300n,
      hashRevision: 120n,
      comparison: { mismatch: true, tie: false },
      hash: 'mismatch',
      hashNote:
        'compaction 50 is covered by a scan already: next hash at the next compaction or 600 s after that scan',
      hashKind: 'compaction-scan',
      hashHow: 'scan after compaction 50',
      hashCheckedAtMs: reachedAt,
      nowMs: reachedAt + 180_000,
      hashReused: true,
    }),
  );
  assert.equal(outcome.ok, true);
  assert.match(
    outcome.problems[0]!,
    /^member 127\.0\.0\.1:2373: hash at revision 120 \(found 3m ago\) differs/,
  );
  assert.equal(outcome.findings?.[0]?.measure, 'hash at revision 120 (found 3m ago): 6, the majority 5');
  assert.match(
    outcome.summary,
    /HASH MISMATCH at revision 120 \(scan after compaction 50, 3m ago\): 127\.0\.0\.1:2373/,
  );
  assert.deepEqual(values(outcome, 'inspection_etcd_consistency_hash_revision'), [120n]);
  assert.deepEqual(values(outcome, 'inspection_etcd_consistency_hash_timestamp_seconds'), [1_700_000_000]);
  assert.deepEqual(values(outcome, 'inspection_etcd_endpoint_hash_mismatch'), [0, 0, 1]);
  const details = outcome.details as ConsistencyDetails;
  assert.equal(details.hashReused, true);
  assert.equal(details.hashKind, 'compaction-scan');
  assert.equal(details.hashMode, 'auto');
  assert.equal(details.checkedRevision, 300n);
});

test('standingMetrics: the hash series of a standing verdict when no member answered', () => {
  const samples = standingMetrics({
    hash: 'mismatch',
    revision: 120n,
    kind: 'recent',
    how: 'scan, never compacted',
    atMs: 1_700_000_000_000,
    membership: '1,2,3',
    tie: false,
    members: new Map([
      ['1', { label: '127.0.0.1:2371', hash: hash(5), state: 'match' as const }],
      ['3', { label: '127.0.0.1:2373', hash: hash(6), state: 'mismatch' as const }],
    ]),
  });
  assert.deepEqual(
    samples.map((m) => [m.name, m.labels, m.value]),
    [
      ['inspection_etcd_consistency_hash_mismatch', {}, 1],
      ['inspection_etcd_consistency_hash_revision', {}, 120n],
      ['inspection_etcd_consistency_hash_timestamp_seconds', {}, 1_700_000_000],
      ['inspection_etcd_endpoint_hash_mismatch', { endpoint: '127.0.0.1:2371' }, 0],
      ['inspection_etcd_endpoint_hash_mismatch', { endpoint: '127.0.0.1:2373' }, 1],
    ],
  );
});
