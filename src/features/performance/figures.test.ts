import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatFinding } from '../../findings.ts';
import { assessMember, commonLinkMember, levelsByCause, type PerformanceThresholds } from './assess.ts';
import { figuresBetween, readMetrics, type MemberFigures } from './figures.ts';

/** A /metrics page as etcd writes it, with the figures that matter here. */
function page(o: {
  start?: number;
  fsync: [number, number, number];
  commit?: [number, number];
  apply?: [number, number];
  rtt?: [number, number];
  slow?: number;
  leaderChanges?: number;
  pending?: number;
}): string {
  const lines = [
    '# TYPE etcd_disk_wal_fsync_duration_seconds histogram',
    `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.008"} ${o.fsync[0]}`,
    `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.256"} ${o.fsync[1]}`,
    `etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} ${o.fsync[2]}`,
    `etcd_disk_wal_fsync_duration_seconds_count ${o.fsync[2]}`,
    'etcd_disk_wal_fsync_duration_seconds_sum 1',
    `process_start_time_seconds ${o.start ?? 1000}`,
    'etcd_server_id{server_id="a1"} 1',
    `etcd_server_slow_apply_total ${o.slow ?? 0}`,
    `etcd_server_leader_changes_seen_total ${o.leaderChanges ?? 1}`,
    'etcd_server_heartbeat_send_failures_total 0',
    'etcd_server_proposals_failed_total 0',
    `etcd_server_proposals_pending ${o.pending ?? 0}`,
    'etcd_server_is_leader 1',
    'process_resident_memory_bytes 5e+07',
  ];
  if (o.commit !== undefined)
    lines.push(
      `etcd_disk_backend_commit_duration_seconds_bucket{le="0.016"} ${o.commit[0]}`,
      `etcd_disk_backend_commit_duration_seconds_bucket{le="+Inf"} ${o.commit[1]}`,
      `etcd_disk_backend_commit_duration_seconds_count ${o.commit[1]}`,
    );
  if (o.apply !== undefined)
    for (const op of ['Put', 'Range'])
      lines.push(
        `etcd_server_apply_duration_seconds_bucket{op="${op}",success="true",version="v3",le="0.0512"} ${o.apply[0]}`,
        `etcd_server_apply_duration_seconds_bucket{op="${op}",success="true",version="v3",le="+Inf"} ${o.apply[1]}`,
      );
  if (o.rtt !== undefined)
    lines.push(
      `etcd_network_peer_round_trip_time_seconds_bucket{To="b2",le="0.0016"} ${o.rtt[0]}`,
      `etcd_network_peer_round_trip_time_seconds_bucket{To="b2",le="+Inf"} ${o.rtt[1]}`,
    );
  return lines.join('\n');
}

test('figures cover the interval between two readings, never the time since start', () => {
  // Since start: 1000 fsyncs, 10 of them slow. In the interval: 100 more, all fast.
  const before = readMetrics(page({ fsync: [990, 1000, 1000], commit: [10, 10], slow: 4 }), 0);
  const after = readMetrics(page({ fsync: [1090, 1100, 1100], commit: [20, 20], slow: 4 }), 30_000);
  assert.equal(after.serverId, 'a1');
  assert.equal(after.rssBytes, 50_000_000);
  const f = figuresBetween(before, after);
  assert.equal(f.windowSeconds, 30);
  assert.equal(f.restarted, false);
  assert.ok((f.walFsyncP99Seconds ?? 1) <= 0.008);
  assert.equal(f.slowApplies, 0);
  assert.equal(f.leaderChanges, 0);
  // 3.4 has no apply histogram and this member no peers: no figure, not zero.
  assert.equal(f.applyP99Seconds, undefined);
  assert.deepEqual(f.peers, []);
});

test('a restart between the readings counts from the new start', () => {
  const before = readMetrics(page({ fsync: [990, 1000, 1000], slow: 4, leaderChanges: 3 }), 0);
  const after = readMetrics(page({ start: 2000, fsync: [5, 10, 10], slow: 1, leaderChanges: 1 }), 30_000);
  const f = figuresBetween(before, after);
  assert.equal(f.restarted, true);
  assert.equal(f.slowApplies, 1);
  assert.equal(f.leaderChanges, 1);
  // 5 of 10 fsyncs were slow since the restart: p99 in (8 ms, 256 ms].
  assert.ok((f.walFsyncP99Seconds ?? 0) > 0.2);
});

test('apply histograms are summed over operations; peers by their ID', () => {
  const before = readMetrics(page({ fsync: [0, 0, 0], apply: [10, 10], rtt: [5, 5] }), 0);
  const after = readMetrics(page({ fsync: [0, 0, 0], apply: [10, 20], rtt: [5, 9] }), 10_000);
  const f = figuresBetween(before, after);
  // 20 applies in the interval (10 per op), all above 51.2 ms: the largest finite bound.
  assert.equal(f.applyP99Seconds, 0.0512);
  assert.deepEqual(f.peers, [{ peerId: 'b2', roundTripP99Seconds: 0.0016, sentFailures: 0 }]);
  // No fsync in the interval: no figure.
  assert.equal(f.walFsyncP99Seconds, undefined);
});

const THRESHOLDS: PerformanceThresholds = {
  walFsyncP99Seconds: 0.01,
  backendCommitP99Seconds: 0.025,
  applyP99Seconds: 0.1,
  peerRoundTripP99Seconds: 0.15,
  criticalFactor: 10,
  slowApplies: 0,
  heartbeatFailures: 0,
  leaderChanges: 0,
  proposalsFailed: 0,
  proposalsPending: 100,
  residentMemoryBytes: 0,
};

const QUIET: MemberFigures = {
  windowSeconds: 30,
  restarted: false,
  walFsyncP99Seconds: 0.002,
  backendCommitP99Seconds: 0.01,
  applyP99Seconds: 0.001,
  slowApplies: 0,
  heartbeatFailures: 0,
  leaderChanges: 0,
  proposalsFailed: 0,
  proposalsPending: 0,
  isLeader: true,
  rssBytes: 5e9,
  peers: [{ peerId: 'b2', roundTripP99Seconds: 0.001, sentFailures: 0 }],
};

test('each figure against its threshold: cause, severity, where', () => {
  const assess = (figures: Partial<MemberFigures>, t: Partial<PerformanceThresholds> = {}) =>
    assessMember(
      {
        where: 'etcd-2',
        linkName: 'etcd-2',
        figures: { ...QUIET, ...figures },
        peerName: (id) => (id === 'b2' ? 'etcd-3' : id),
      },
      { ...THRESHOLDS, ...t },
    ).map((f) => [f.causeKey, f.member, f.severity, f.measure]);
  assert.deepEqual(assess({}), []);
  const cases: [Partial<MemberFigures>, Partial<PerformanceThresholds>, unknown[]][] = [
    [{ walFsyncP99Seconds: 0.05 }, {}, ['slow_disk', 'etcd-2', 'warning', 'WAL fsync p99']],
    [{ walFsyncP99Seconds: 0.18 }, {}, ['slow_disk', 'etcd-2', 'critical', 'WAL fsync p99']],
    // Exactly at the threshold is within bounds.
    [{ walFsyncP99Seconds: 0.01 }, {}, []],
    [{ backendCommitP99Seconds: 0.03 }, {}, ['slow_disk', 'etcd-2', 'warning', 'backend commit p99']],
    [{ applyP99Seconds: 0.2 }, {}, ['slow_apply', 'etcd-2', 'warning', 'apply duration p99']],
    [{ slowApplies: 2 }, {}, ['slow_apply', 'etcd-2', 'warning', 'slow applies']],
    [{ slowApplies: 2 }, { slowApplies: 2 }, []],
    [
      { peers: [{ peerId: 'b2', roundTripP99Seconds: 3, sentFailures: 0 }] },
      {},
      ['slow_peer_link', 'etcd-2 \u2194 etcd-3', 'critical', 'peer round trip p99'],
    ],
    [{ heartbeatFailures: 1 }, {}, ['heartbeat_failures', 'etcd-2', 'warning', 'heartbeat send failures']],
    [{ leaderChanges: 1 }, {}, ['leader_changes', 'etcd-2', 'warning', 'leader changes seen']],
    [{ proposalsFailed: 3 }, {}, ['failed_proposals', 'etcd-2', 'warning', 'failed proposals']],
    [{ proposalsPending: 101 }, {}, ['proposal_backlog', 'etcd-2', 'warning', 'pending proposals']],
    // Memory has no bound unless one is set.
    [{}, { residentMemoryBytes: 4e9 }, ['high_memory', 'etcd-2', 'warning', 'resident memory']],
  ];
  for (const [figures, t, expected] of cases)
    assert.deepEqual(assess(figures, t), expected.length === 0 ? [] : [expected], JSON.stringify(figures));
});

test('a finding names member, cause, figure, window, threshold and what to do', () => {
  const [finding] = assessMember(
    {
      where: 'etcd-2',
      linkName: 'etcd-2',
      figures: { ...QUIET, walFsyncP99Seconds: 0.18 },
      peerName: (id) => id,
    },
    THRESHOLDS,
  );
  assert.ok(finding !== undefined);
  assert.match(
    formatFinding(finding),
    /^member etcd-2: slow disk — WAL fsync p99 180 ms over the last 30 s \(threshold 10 ms\); put the data dir .* \(runbook: docs\/runbooks\.md#etcdmemberslowdisk\)$/,
  );
  const levels = levelsByCause([finding]);
  const link = (a: string, b: string) => ({
    ...finding,
    causeKey: 'slow_peer_link' as const,
    member: `${a} \u2194 ${b}`,
  });
  assert.equal(commonLinkMember([link('etcd-1', 'etcd-3'), link('etcd-3', 'etcd-2'), finding]), 'etcd-3');
  assert.equal(commonLinkMember([link('etcd-1', 'etcd-3')]), undefined);
  assert.equal(commonLinkMember([link('etcd-1', 'etcd-3'), link('etcd-2', 'etcd-4')]), undefined);
  assert.equal(levels.slow_disk, 2);
  assert.equal(levels.slow_peer_link, 0);
});
