import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterHandle, EtcdHttpView, MemberHandle } from '../../engine/contract.ts';
import { parseEndpoint, type Endpoint } from '../../etcd/endpoint.ts';
import { silentLogger } from '../../log.ts';
import { FakeClock } from '../../testing/fake-clock.ts';
import { eventually } from '../../testing/wait.ts';
import { parsePerformanceOptions, PerformanceSession, type PerformanceDetails } from './performance.ts';

/** A member's /metrics: its ID and a WAL fsync histogram with `slow` of `total` fsyncs above 256 ms. */
function page(serverId: string, total: number, slow: number): string {
  return [
    `etcd_server_id{server_id="${serverId}"} 1`,
    'process_start_time_seconds 1000',
    `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.008"} ${total - slow}`,
    `etcd_disk_wal_fsync_duration_seconds_bucket{le="0.256"} ${total - slow}`,
    `etcd_disk_wal_fsync_duration_seconds_bucket{le="+Inf"} ${total}`,
    `etcd_disk_wal_fsync_duration_seconds_count ${total}`,
    'etcd_server_leader_changes_seen_total 1',
  ].join('\n');
}

type Answer = () => string;

function httpView(endpoint: Endpoint, answer: Answer, calls: string[]): EtcdHttpView {
  const fail = (): never => {
    throw new Error('not used');
  };
  return {
    endpoint,
    health: fail,
    version: fail,
    metrics: async (opts) => {
      calls.push(`${endpoint.hostPort}${opts?.path ?? '/metrics'}`);
      const text = answer();
      return { text, bytes: text.length };
    },
  };
}

function member(name: string, id: bigint, port: number, answer: Answer, calls: string[]): MemberHandle {
  const endpoint = parseEndpoint(`http://10.0.0.${port - 2378}:${port}`);
  const view = httpView(endpoint, answer, calls);
  return {
    snapshot: {
      id,
      name,
      endpoint: endpoint.hostPort,
      clientURLs: [endpoint.url],
      peerURLs: [],
      role: 'follower',
      memberErrors: [],
    },
    endpoint,
    http: () => view,
    v3: () => assert.fail('v3 not used'),
    v2: () => assert.fail('v2 not used'),
  };
}

function cluster(
  members: () => readonly MemberHandle[],
  owned: string[],
  calls: string[],
  answers: Record<string, Answer>,
) {
  const handle: ClusterHandle = {
    identity: { id: 'c', name: 'c', labels: {}, storageBackend: 'v3', endpoints: [] },
    logger: silentLogger(),
    requestTimeoutMs: 1000,
    tls: undefined,
    ready: async () => {},
    members,
    openV3Client: () => assert.fail('not used'),
    openProbeKey: () => assert.fail('not used'),
    openHttpClient: (endpoint) => {
      owned.push(`open ${endpoint.url}`);
      return {
        client: httpView(endpoint, answers[endpoint.url] ?? (() => ''), calls),
        close: async () => void owned.push(`close ${endpoint.url}`),
      };
    },
  };
  return handle;
}

test('a first round reads each member twice, baselineSeconds apart; later rounds once, over the interval', async () => {
  const clock = new FakeClock();
  const calls: string[] = [];
  let fsyncs = { total: 100, slow: 0 };
  const members = [
    member('etcd-1', 0xa1n, 2379, () => page('a1', fsyncs.total, fsyncs.slow), calls),
    member('etcd-2', 0xa2n, 2380, () => page('a2', 100, 0), calls),
  ];
  const session = new PerformanceSession(
    cluster(() => members, [], calls, {}),
    parsePerformanceOptions({ baselineSeconds: 5 }),
    clock,
  );
  const first = session.inspect(AbortSignal.timeout(60_000));
  // The baseline wait is on the session's clock: move it once the first readings are in.
  await eventually(() => clock.nextTimerAt() !== undefined, 'the baseline wait');
  assert.equal(calls.length, 2);
  fsyncs = { total: 200, slow: 10 };
  await clock.advance(5000);
  const outcome = await first;
  assert.equal(calls.length, 4);
  assert.equal(outcome.ok, true);
  const details = outcome.details as PerformanceDetails;
  assert.deepEqual(
    details.members.map((m) => m.figures?.windowSeconds),
    [5, 5],
  );
  // 10 of the 100 fsyncs in the interval were slow: etcd-1 only; the 100 before the baseline do not count.
  assert.deepEqual(
    outcome.findings?.map((f) => [f.member, f.cause, f.window]),
    [['10.0.0.1:2379 (etcd-1)', 'slow disk', 'over the last 5 s']],
  );
  assert.match(
    outcome.problems[0] ?? '',
    /^member 10\.0\.0\.1:2379 \(etcd-1\): slow disk — WAL fsync p99 256 ms/,
  );

  // Next round: one reading each, against the last one.
  await clock.advance(25_000);
  fsyncs = { total: 300, slow: 10 };
  const second = await session.inspect(AbortSignal.timeout(60_000));
  assert.equal(calls.length, 6);
  assert.deepEqual(second.findings, []);
  assert.equal((second.details as PerformanceDetails).members[0]?.figures?.windowSeconds, 25);
  await session.close();
});

test('one member unreadable or serving another member: its own error, the others still count', async () => {
  const clock = new FakeClock();
  const calls: string[] = [];
  const owned: string[] = [];
  const members = [
    member('etcd-1', 0xa1n, 2379, () => page('a1', 10, 0), calls),
    member('etcd-2', 0xa2n, 2380, () => page('a2', 10, 0), calls),
    member('etcd-3', 0xa3n, 2381, () => page('a3', 10, 0), calls),
  ];
  const answers: Record<string, Answer> = {
    // etcd-2's metrics URL answers with etcd-1's page; etcd-3's is down.
    'http://10.0.0.2:2381': () => page('a1', 10, 0),
    'http://10.0.0.3:2381': () => {
      throw new Error('connect ECONNREFUSED 10.0.0.3:2381');
    },
  };
  const session = new PerformanceSession(
    cluster(() => members, owned, calls, answers),
    parsePerformanceOptions({
      baselineSeconds: 1,
      metricsURLs: { 'etcd-2': 'http://10.0.0.2:2381', '10.0.0.3:2381': 'http://10.0.0.3:2381/metrics' },
    }),
    clock,
  );
  const round = session.inspect(AbortSignal.timeout(60_000));
  await eventually(() => clock.nextTimerAt() !== undefined, 'the baseline wait');
  await clock.advance(1000);
  const outcome = await round;
  assert.equal(outcome.ok, true);
  const byName = new Map((outcome.details as PerformanceDetails).members.map((m) => [m.name, m]));
  assert.ok(byName.get('etcd-1')?.figures !== undefined);
  assert.equal(
    byName.get('etcd-2')?.error,
    'http://10.0.0.2:2381/metrics serves the metrics of member a1, not of this member (a2)',
  );
  assert.equal(
    byName.get('etcd-3')?.error,
    'cannot read http://10.0.0.3:2381/metrics: connect ECONNREFUSED 10.0.0.3:2381',
  );
  assert.match(
    outcome.summary,
    /unknown: 10\.0\.0\.2:2380 \(etcd-2\): .*; 10\.0\.0\.3:2381 \(etcd-3\): cannot read/,
  );
  const up = outcome.metrics.filter((m) => m.name === 'inspection_etcd_member_metrics_up');
  assert.deepEqual(
    up.map((m) => [m.labels['endpoint'], m.value]),
    [
      ['10.0.0.1:2379', 1],
      ['10.0.0.2:2380', 0],
      ['10.0.0.3:2381', 0],
    ],
  );
  // The clients of the metrics URLs are the session's: closed with it.
  await session.close();
  assert.deepEqual(owned.sort(), [
    'close http://10.0.0.2:2381',
    'close http://10.0.0.3:2381',
    'open http://10.0.0.2:2381',
    'open http://10.0.0.3:2381',
  ]);
});

test('no member readable: a failed round, not an ok one', async () => {
  const calls: string[] = [];
  const members = [
    member(
      'etcd-1',
      0xa1n,
      2379,
      () => {
        throw new Error('timeout');
      },
      calls,
    ),
  ];
  const session = new PerformanceSession(
    cluster(() => members, [], calls, {}),
    parsePerformanceOptions({}),
    new FakeClock(),
  );
  const outcome = await session.inspect(AbortSignal.timeout(60_000));
  assert.equal(outcome.ok, false);
  assert.match(
    outcome.error ?? '',
    /^no member's metrics could be read: 10\.0\.0\.1:2379 \(etcd-1\): cannot read/,
  );
});

test('options: a metrics URL that is not one is named', () => {
  assert.throws(
    () => parsePerformanceOptions({ metricsURLs: { 'etcd-1': 'not a url' } }),
    /options of feature performance: metricsURLs\.etcd-1: "not a url" is not a URL/,
  );
  // A password in a metrics URL is never quoted back, whether the URL parses or not.
  for (const url of ['http://user:s3cret@10.0.0.1:99999/metrics', 'http://user:s3cret@10.0.0.1:2381/metrics'])
    assert.throws(
      () => parsePerformanceOptions({ metricsURLs: { 'etcd-1': url } }),
      (err: Error) =>
        /metricsURLs\.etcd-1: .*(is not a URL|carries credentials in the URL)/.test(err.message) &&
        !err.message.includes('s3cret') &&
        !err.message.includes('user:'),
    );
  assert.throws(
    () => parsePerformanceOptions({ metricsURLs: { 'etcd-1': 'ftp://10.0.0.1:2381' } }),
    /metricsURLs\.etcd-1: .*only http and https/,
  );
  assert.throws(() => parsePerformanceOptions({ walFsyncP99Seconds: 0 }), /walFsyncP99Seconds/);
  assert.throws(() => parsePerformanceOptions({ unknown: 1 }), /unknown/);
});
