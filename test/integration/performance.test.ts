/**
 * performance on real etcd. 3.6 with TLS: a follower paused with SIGSTOP for
 * a few seconds is a per-member error while paused (the other members'
 * figures still count), then the slow peer link its peers measured names
 * it, and clears with the next measurement. 3.4: an unreachable metrics
 * URL and one serving another member's metrics are errors of those members
 * only; 3.4's metric names (no apply histogram); the why section in the API
 * and on the status page; `inspect --features performance`.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { readMetrics } from '../../src/features/performance/figures.ts';
import type { InspectionServer } from '../../src/inspection-server.ts';
import type { PerformanceDetails } from '../../src/features/performance/performance.ts';
import { freePort } from '../../src/testbed/ports.ts';
import { eventually } from '../../src/testing/wait.ts';
import { cli, tlsFlags } from '../support/cli.ts';
import { family, scrape } from '../support/scrape.ts';
import { hostPort, specFor } from '../support/specs.ts';
import { startInspectionServer } from '../support/inspection-server.ts';
import { clusterForTest, httpClientFor } from '../support/clusters.ts';

/** etcd records a peer's smoothed probe round trip every 30 s: a finding needs that long to show and to clear. */
const PEER_OBSERVATION_GUARD_MS = 120_000;

function performanceRun(daemon: InspectionServer, id: string) {
  const last = daemon.store.get(id)?.features['performance']?.last;
  return last?.ok === true ? { ...last, details: last.details as PerformanceDetails } : undefined;
}

describe('performance on etcd 3.6 with TLS', () => {
  test('a paused follower: its own error while paused, then the slow peer link naming it, then clear', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 3, tls: true, name: 'perf36' });
    const { daemon, address } = await startInspectionServer(t);
    await daemon.engine.upsert(
      specFor('p', cluster, {
        // A round may wait out a paused member's 2 s request deadline.
        performance: { intervalSeconds: 2, timeoutSeconds: 15, options: { baselineSeconds: 1 } },
      }),
    );

    // Every member read with the cluster's TLS, every figure over an interval.
    // etcd creates a peer's round-trip series at its first observation, ~5 s after start.
    const first = await eventually(
      () => {
        const run = performanceRun(daemon, 'p');
        return (
          run?.details.members.every(
            (m) => m.figures !== undefined && m.figures.windowSeconds > 0 && m.figures.peers.length === 2,
          ) && run
        );
      },
      'a round with figures for every member and both its peers',
      30_000,
    );
    assert.equal(first.details.members.length, 3);
    for (const m of first.details.members) {
      assert.match(m.metricsUrl, /^https:\/\/127\.0\.0\.1:\d+\/metrics$/);
      assert.ok((m.figures?.rssBytes ?? 0) > 0, 'resident memory');
      assert.ok((m.bytes ?? 0) > 50_000, 'a whole /metrics page');
    }
    const metrics = await scrape(address);
    assert.equal(family(metrics, 'inspection_etcd_member_metrics_up').size, 3);
    assert.equal(family(metrics, 'inspection_etcd_member_performance_level').size, 3 * 8);

    const followerIndex = first.details.members.findIndex(
      (m) =>
        daemon.store.get('p')?.members?.members.find((s) => s.endpoint === m.endpoint)?.role === 'follower',
    );
    const follower = first.details.members[followerIndex]!;
    const i = cluster.endpoints.findIndex((e) => hostPort(e) === follower.endpoint);
    const name = follower.name;
    const pausedAt = performance.now();
    await cluster.pauseMember(i);
    t.after(() => cluster.resumeMember(i));
    try {
      // Paused: its metrics are an error of its own; the others still count.
      const paused = await eventually(
        () => {
          const run = performanceRun(daemon, 'p');
          const mine = run?.details.members.find((m) => m.endpoint === follower.endpoint);
          return mine?.error !== undefined && run;
        },
        'a round with the paused member unreadable',
        30_000,
      );
      const mine = paused.details.members.find((m) => m.endpoint === follower.endpoint)!;
      assert.match(
        mine.error!,
        /cannot read https:\/\/127\.0\.0\.1:\d+\/metrics: .*(no answer within|timeout)/,
      );
      const others = paused.details.members.filter((m) => m.endpoint !== follower.endpoint);
      assert.equal(others.length, 2);
      assert.ok(others.every((m) => m.figures !== undefined && m.error === undefined));
      assert.match(paused.summary, new RegExp(`unknown: ${follower.endpoint}`));
      const up = family(await scrape(address), 'inspection_etcd_member_metrics_up');
      assert.equal(up.get(`{clusterName="p",endpoint="${follower.endpoint}"}`), 0);
      // etcd's peer probes run every 4 s: a pause longer than that holds one of them.
      await sleep(Math.max(0, 6000 - (performance.now() - pausedAt)));
    } finally {
      cluster.resumeMember(i);
    }

    // The peers' next observation of the link is slow, and names the paused member.
    const slow = await eventually(
      () => {
        const run = performanceRun(daemon, 'p');
        return run?.findings?.some((f) => f.cause === 'slow peer link') && run;
      },
      'a slow peer link finding',
      PEER_OBSERVATION_GUARD_MS,
    );
    const links = slow.findings!.filter((f) => f.cause === 'slow peer link');
    for (const link of links) {
      assert.match(link.member, new RegExp(`\u2194`));
      assert.ok(link.member.includes(name), `${link.member} names the paused member ${name}`);
      assert.ok((link.value ?? 0) > 0.15 && link.threshold === 0.15);
    }
    assert.ok(slow.problems.some((p) => p.includes('slow peer link') && p.includes(name)));
    if (links.length >= 2) assert.match(slow.summary, new RegExp(`every slow peer link involves ${name}`));
    const api = (await (await fetch(`http://${address}/api/v1/clusters/p`)).json()) as {
      why: { feature: string; cause: string; member: string }[];
    };
    assert.ok(api.why.some((w) => w.feature === 'performance' && w.cause === 'slow peer link'));
    const page = await (await fetch(`http://${address}/`)).text();
    assert.match(page, /<h3>Why<\/h3>/);
    assert.match(page, /slow peer link/);

    // Cleared by a measurement, not by silence: the next observations of every link to it are within bounds.
    await eventually(
      () => {
        const run = performanceRun(daemon, 'p');
        if (run === undefined || run.findings?.some((f) => f.cause === 'slow peer link')) return false;
        const peerId = run.details.members.find((m) => m.endpoint === follower.endpoint)?.id;
        const toPaused = run.details.members
          .filter((m) => m.endpoint !== follower.endpoint)
          .map((m) => m.figures?.peers.find((p) => p.peerId === peerId)?.roundTripP99Seconds);
        return toPaused.some((rtt) => rtt !== undefined && rtt <= 0.15);
      },
      'a link to the resumed member measured within bounds',
      PEER_OBSERVATION_GUARD_MS,
    );
  });
});

describe('performance on etcd 3.4', () => {
  test('unreachable and misdirected metrics URLs are errors of those members; 3.4 names; why; inspect', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.4', members: 3, name: 'perf34' });
    const [e0, e1, e2] = cluster.endpoints.map(hostPort) as [string, string, string];
    const closedPort = await freePort();
    const { daemon, address } = await startInspectionServer(t);
    await daemon.engine.upsert(
      specFor('p', cluster, {
        performance: {
          intervalSeconds: 2,
          options: {
            baselineSeconds: 1,
            // A bound every member crosses: the why section has something to show.
            residentMemoryBytes: 1024,
            metricsURLs: {
              [e1]: `http://127.0.0.1:${closedPort}/metrics`,
              [e2]: `${cluster.endpoints[0]}/metrics`,
            },
          },
        },
      }),
    );
    const run = await eventually(() => {
      const r = performanceRun(daemon, 'p');
      return r?.details.members.some((m) => m.figures !== undefined) && r;
    }, 'a round');
    const byEndpoint = new Map(run.details.members.map((m) => [m.endpoint, m]));
    assert.ok(byEndpoint.get(e0)?.figures !== undefined);
    assert.match(
      byEndpoint.get(e1)?.error ?? '',
      new RegExp(`^cannot read http://127\\.0\\.0\\.1:${closedPort}/metrics: .*(refused|ECONNREFUSED)`),
    );
    assert.match(
      byEndpoint.get(e2)?.error ?? '',
      new RegExp(
        `serves the metrics of member ${byEndpoint.get(e0)?.id}, not of this member \\(${byEndpoint.get(e2)?.id}\\)`,
      ),
    );
    // 3.4 has no apply histogram: no figure rather than a wrong one; fsync and peers are there.
    const figures = byEndpoint.get(e0)!.figures!;
    assert.equal(figures.applyP99Seconds, undefined);
    assert.equal(typeof figures.slowApplies, 'number');

    const memory = run.findings!.filter((f) => f.cause === 'high memory');
    assert.deepEqual(
      memory.map((f) => f.member),
      [`${e0} (${byEndpoint.get(e0)?.name})`],
    );
    const api = (await (await fetch(`http://${address}/api/v1/clusters/p`)).json()) as {
      why: {
        feature: string;
        cause: string;
        member: string;
        value: number;
        threshold: number;
        unit: string;
      }[];
    };
    const why = api.why.find((w) => w.cause === 'high memory');
    assert.equal(why?.feature, 'performance');
    assert.equal(why?.threshold, 1024);
    assert.equal(why?.unit, 'bytes');
    assert.ok((why?.value ?? 0) > 1024);
    const page = await (await fetch(`http://${address}/`)).text();
    assert.match(page, /<h3>Why<\/h3>.*high memory.*resident memory/s);

    // inspect reads every member twice, baselineSeconds apart, and judges the interval.
    const r = await cli([
      'inspect',
      '--endpoints',
      cluster.endpoints.join(','),
      '--features',
      'performance',
      '-o',
      'json',
    ]);
    assert.equal(r.stderr, '');
    const report = JSON.parse(r.stdout) as {
      why: unknown[];
      cluster: { inspections: { performance: { last: { ok: boolean; details: PerformanceDetails } } } };
    };
    const last = report.cluster.inspections.performance.last;
    assert.equal(last.ok, true);
    assert.equal(last.details.members.length, 3);
    for (const m of last.details.members) assert.ok((m.figures?.windowSeconds ?? 0) >= 4, 'a 5 s baseline');
    assert.ok(Array.isArray(report.why));
  });
});

describe('performance: the metric names it reads, on each etcd version', () => {
  for (const version of ['3.4', '3.5', '3.6'] as const) {
    test(`etcd ${version} serves every family the figures come from`, async (t) => {
      const cluster = await clusterForTest(t, {
        version,
        members: 1,
        name: `perfnames${version.replace('.', '')}`,
      });
      const client = httpClientFor(t, cluster);
      // A write, so that the WAL, the backend and the apply loop have observations.
      await cluster.etcdctl(['put', 'perf-names', 'x']);
      const reading = readMetrics((await client.metrics()).text, 0);
      for (const [what, value] of Object.entries({
        serverId: reading.serverId,
        processStartSeconds: reading.processStartSeconds,
        walFsync: reading.walFsync?.count,
        backendCommit: reading.backendCommit?.count,
        slowApplies: reading.slowApplies,
        heartbeatFailures: reading.heartbeatFailures,
        leaderChanges: reading.leaderChanges,
        proposalsFailed: reading.proposalsFailed,
        proposalsPending: reading.proposalsPending,
        isLeader: reading.isLeader,
        rssBytes: reading.rssBytes,
      }))
        assert.notEqual(value, undefined, `${what} on etcd ${cluster.binaryVersion}`);
      assert.ok((reading.walFsync?.count ?? 0) > 0);
      // The one difference: 3.4 has no apply histogram.
      if (version === '3.4') assert.equal(reading.apply, undefined);
      else assert.ok((reading.apply?.count ?? 0) > 0, `apply histogram on etcd ${cluster.binaryVersion}`);
    });
  }
});

describe('performance with a metrics listener of its own', () => {
  test('metricsPort reads each member on its --listen-metrics-urls port', async (t) => {
    const metricsPort = await freePort();
    const cluster = await clusterForTest(t, {
      version: '3.6',
      members: 1,
      name: 'perfport',
      extraArgs: [`--listen-metrics-urls=http://127.0.0.1:${metricsPort}`],
    });
    const { daemon } = await startInspectionServer(t);
    await daemon.engine.upsert(
      specFor('p', cluster, {
        performance: {
          intervalSeconds: 2,
          options: { baselineSeconds: 1, metricsPort, metricsScheme: 'http' },
        },
      }),
    );
    const run = await eventually(() => performanceRun(daemon, 'p'), 'a round');
    const [member] = run.details.members;
    assert.equal(member?.metricsUrl, `http://127.0.0.1:${metricsPort}/metrics`);
    assert.equal(member?.error, undefined);
    assert.ok((member?.figures?.windowSeconds ?? 0) > 0);
  });
});

describe('performance with TLS, inspect', () => {
  test('inspect --features performance on a TLS cluster shows the inspection', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 1, tls: true, name: 'perfcli' });
    const r = await cli([
      'inspect',
      '--endpoints',
      cluster.endpoints[0]!,
      ...tlsFlags(cluster.tls!),
      '--features',
      'healthy,performance',
    ]);
    assert.match(r.stdout, /performance\s+(ok|PROBLEM)\s+/);
  });
});

describe('a member named by many clusters', () => {
  test('its /metrics is read once for the clusters asking together, every figure still over an interval', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 1, name: 'perfshare' });
    const { daemon } = await startInspectionServer(t);
    // etcd counts the scrapes of its own /metrics: what it served is what the monitor read.
    const served = async (): Promise<number> => {
      const text = await (await fetch(`${cluster.endpoints[0]}/metrics`)).text();
      const m = /^promhttp_metric_handler_requests_total\{code="200"\} (\d+)$/m.exec(text);
      assert.ok(m !== null, 'etcd counts its /metrics requests');
      return Number(m[1]);
    };
    const before = await served();
    const names = Array.from({ length: 12 }, (_, i) => `share${i}`);
    for (const name of names)
      await daemon.engine.upsert(
        specFor(name, cluster, {
          performance: { intervalSeconds: 1, timeoutSeconds: 15, options: { baselineSeconds: 4 } },
        }),
      );
    const runs = (): number =>
      names.reduce((sum, n) => sum + (daemon.store.get(n)?.features['performance']?.runs ?? 0), 0);
    // A few rounds of every cluster after its baseline.
    await eventually(
      () => names.every((n) => (daemon.store.get(n)?.features['performance']?.runs ?? 0) >= 5),
      'five performance rounds of every cluster',
      120_000,
    );
    const rounds = runs();
    const lastRuns = new Map(names.map((n) => [n, performanceRun(daemon, n)]));
    for (const name of names) await daemon.engine.remove(name);
    // Our own two reads of the counter are not the monitor's.
    const reads = (await served()) - before - 1;
    // Read per cluster, that would be one read a round plus each cluster's baseline read
    // (rounds in flight when the clusters were removed read too: a few more reads than rounds).
    const unshared = rounds + names.length;
    t.diagnostic(`${reads} reads of the member's /metrics for ${rounds} rounds of ${names.length} clusters`);
    assert.ok(
      reads <= unshared / 2,
      `${reads} reads of /metrics for ${rounds} rounds (${unshared} unshared)`,
    );
    for (const name of names) {
      const run = lastRuns.get(name);
      assert.ok(run !== undefined, `${name}: a successful round`);
      for (const m of run.details.members)
        assert.ok((m.figures?.windowSeconds ?? 0) > 0, `${name}: figures over an interval`);
    }
  });
});
