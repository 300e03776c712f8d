import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Clock } from '../clock.ts';
import { Engine } from './engine.ts';
import { SnapshotStore } from './snapshot.ts';
import type { FeatureRequest } from './contract.ts';
import type { ClusterSpec } from './cluster-spec.ts';
import { FeatureRegistry } from '../features/registry.ts';
import { registerBuiltinFeatures } from '../features/index.ts';
import { InspectionCollector } from '../metrics/collector.ts';
import { silentLogger } from '../log.ts';
import { FakeCluster, fakeClients } from '../testing/fake-etcd.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { eventually } from '../testing/wait.ts';
import { testSpec } from '../testing/cluster-spec.ts';

const registry = registerBuiltinFeatures(new FeatureRegistry());

/** A spec of a fake cluster, as an adapter builds it. */
function spec(
  id: string,
  cluster: FakeCluster,
  features: Record<string, FeatureRequest>,
  extra: Partial<Omit<ClusterSpec, 'features'>> = {},
): ClusterSpec {
  return testSpec(id, [cluster.members[0]!.url], features, extra);
}

const fast = (intervalSeconds = 0.05): FeatureRequest => ({ intervalSeconds });

/** An engine on fake clusters; with a FakeClock, time moves only when the test advances it. */
function setup(clusters: FakeCluster[], clock?: Clock) {
  const store = new SnapshotStore();
  const engine = new Engine({
    store,
    clients: fakeClients(clusters),
    logger: silentLogger(),
    jitter: false,
    clock,
  });
  const collector = new InspectionCollector({
    store,
    featureMetrics: registry.names().flatMap((n) => registry.get(n).metrics),
  });
  return { engine, store, collector };
}

test('a cluster is discovered, inspected and rendered; removing it drops every series and closes every client', async (t) => {
  const a = new FakeCluster(2000);
  const clock = new FakeClock();
  const { engine, store, collector } = setup([a], clock);
  t.after(() => engine.stop());
  await engine.upsert(spec('a', a, { healthy: fast(), alarm: fast() }));

  const snap = await eventually(() => {
    const s = store.get('a');
    return s?.features.healthy?.last !== undefined &&
      s.features.alarm?.last !== undefined &&
      s.members?.members.length === 3
      ? s
      : undefined;
  }, 'first rounds');
  assert.equal(snap.members?.leaderId, a.members[0]!.id);
  const text = collector.render();
  for (const m of a.members) {
    const ep = m.url.replace('http://', '');
    assert.match(
      text,
      new RegExp(`inspection_etcd_endpoint_healthy\\{clusterName="a",endpoint="${ep}"\\} 1\\n`),
    );
  }
  assert.match(text, /inspection_etcd_alarms\{clusterName="a"\} 0\n/);

  await engine.remove('a');
  assert.equal(store.get('a'), undefined);
  assert.equal(collector.render().includes('clusterName="a"'), false);
  assert.deepEqual([...a.closed].sort(), [...a.opened].sort(), 'every client opened was closed');
  assert.equal(clock.pendingTimers, 0, 'every loop stopped');
  const callsAfterRemove = a.calls.length;
  await clock.advance(60_000);
  assert.equal(a.calls.length, callsAfterRemove, 'no call after removal');
});

test('a member that stops answering goes to healthy 0 at the next round, then back to 1', async (t) => {
  const a = new FakeCluster(2100);
  const { engine, collector } = setup([a]);
  t.after(() => engine.stop());
  await engine.upsert(spec('a', a, { healthy: fast() }));
  const series = 'inspection_etcd_endpoint_healthy{clusterName="a",endpoint="127.0.0.1:2101"}';
  await eventually(() => (collector.render().includes(`${series} 1\n`) ? true : undefined), 'healthy 1');
  a.members[1]!.up = false;
  await eventually(() => (collector.render().includes(`${series} 0\n`) ? true : undefined), 'healthy 0');
  a.members[1]!.up = true;
  await eventually(
    () => (collector.render().includes(`${series} 1\n`) ? true : undefined),
    'healthy 1 again',
  );
});

test('a cluster-wide alarm (member ID 0) is exported, and the series disappears when cleared', async (t) => {
  const a = new FakeCluster(2200);
  const { engine, collector } = setup([a]);
  t.after(() => engine.stop());
  await engine.upsert(spec('a', a, { alarm: fast() }));
  a.alarms = [
    { memberId: 0n, alarm: 'CORRUPT' },
    { memberId: a.members[2]!.id, alarm: 'NOSPACE' },
  ];
  await eventually(
    () =>
      collector
        .render()
        .includes('inspection_etcd_endpoint_alarm{clusterName="a",endpoint="cluster",alarmType="CORRUPT"} 1')
        ? true
        : undefined,
    'CORRUPT',
  );
  assert.match(
    collector.render(),
    /inspection_etcd_endpoint_alarm\{clusterName="a",endpoint="127.0.0.1:2202",alarmType="NOSPACE"\} 1/,
  );
  a.alarms = [];
  await eventually(
    () => (collector.render().includes('inspection_etcd_endpoint_alarm{') ? undefined : true),
    'alarm series gone',
  );
  assert.match(collector.render(), /inspection_etcd_alarms\{clusterName="a"\} 0/);
});

test('a hanging cluster never delays another, and its round fails at the deadline', async (t) => {
  const slow = new FakeCluster(2300);
  const quick = new FakeCluster(2400);
  const { engine, store } = setup([slow, quick]);
  t.after(() => engine.stop());
  for (const m of slow.members) m.hang = true;
  await engine.upsert(spec('slow', slow, { alarm: { intervalSeconds: 1, timeoutSeconds: 1 } }));
  await engine.upsert(spec('quick', quick, { alarm: fast() }));
  const quickRuns = await eventually(() => {
    const runs = store.get('quick')?.features.alarm?.runs ?? 0;
    return runs >= 5 ? runs : undefined;
  }, 'quick rounds while slow hangs');
  assert.ok(quickRuns >= 5);
  const slowRun = await eventually(
    () => store.get('slow')?.features.alarm?.last,
    'slow round to time out',
    5000,
  );
  assert.equal(slowRun.ok, false);
  assert.match(slowRun.error ?? '', /timed out|alarm list/);
  assert.equal(store.get('slow')?.features.alarm?.failures, 1);
});

test('failed rounds in a row are counted and reset by a success; the interval is exported', async (t) => {
  const a = new FakeCluster(2350);
  const { engine, store, collector } = setup([a]);
  t.after(() => engine.stop());
  await engine.upsert(spec('a', a, { alarm: fast(0.05) }));
  const labels = '{clusterName="a",inspectionType="alarm"}';
  const gauge = (name: string): number | undefined => {
    const line = collector
      .render()
      .split('\n')
      .find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };
  await eventually(() => (store.get('a')?.features.alarm?.last?.ok === true ? true : undefined), 'a success');
  assert.equal(gauge('inspection_feature_consecutive_failures'), 0);
  assert.equal(gauge('inspection_feature_interval_seconds'), 0.05);
  for (const m of a.members) m.up = false;
  const failing = await eventually(() => {
    const f = store.get('a')?.features.alarm;
    return f !== undefined && f.consecutiveFailures >= 3 ? f : undefined;
  }, 'three failures in a row');
  assert.ok(failing.failures >= failing.consecutiveFailures);
  assert.ok((gauge('inspection_feature_consecutive_failures') ?? 0) >= 3);
  for (const m of a.members) m.up = true;
  await eventually(
    () => (gauge('inspection_feature_consecutive_failures') === 0 ? true : undefined),
    'reset by a success',
  );
  assert.ok((store.get('a')?.features.alarm?.failures ?? 0) >= 3, 'the failure counter keeps its count');
});

test('changing one feature restarts only that feature; a disabled one leaves the snapshot', async (t) => {
  const a = new FakeCluster(2500);
  const { engine, store } = setup([a]);
  t.after(() => engine.stop());
  await engine.upsert(spec('a', a, { healthy: fast(), alarm: fast() }));
  await eventually(
    () => ((store.get('a')?.features.alarm?.runs ?? 0) >= 3 ? true : undefined),
    'alarm rounds',
  );
  const openedBefore = a.opened.length;

  await engine.upsert(spec('a', a, { healthy: fast(0.1), alarm: fast() }));
  const snap = store.get('a')!;
  assert.ok((snap.features.alarm?.runs ?? 0) >= 3, 'alarm kept its history');
  assert.equal(snap.features.healthy?.runs, 0, 'healthy restarted');
  assert.equal(a.opened.length, openedBefore, 'no new connections for a feature change');
  await eventually(
    () => ((store.get('a')?.features.healthy?.runs ?? 0) >= 1 ? true : undefined),
    'healthy runs again',
  );

  await engine.upsert(spec('a', a, { healthy: fast(0.1) }));
  assert.equal(store.get('a')?.features.alarm, undefined, 'disabled feature leaves the snapshot');
  assert.deepEqual(store.get('a')?.configErrors, []);
});

test('new connection settings reconnect: old clients are closed', async (t) => {
  const a = new FakeCluster(2600);
  const { engine, store } = setup([a]);
  t.after(() => engine.stop());
  await engine.upsert(spec('a', a, { healthy: fast() }));
  await eventually(
    () => ((store.get('a')?.features.healthy?.runs ?? 0) >= 1 ? true : undefined),
    'first round',
  );
  await engine.upsert(
    spec('a', a, { healthy: fast() }, { client: { dialTimeoutMs: 2000, requestTimeoutMs: 2000 } }),
  );
  assert.ok(a.closed.length > 0, 'old clients closed');
  await eventually(
    () => ((store.get('a')?.features.healthy?.runs ?? 0) >= 1 ? true : undefined),
    'rounds after reconnect',
  );
});

test('membership falls back to the last known members when no member answers', async (t) => {
  const a = new FakeCluster(2700);
  const { engine, store, collector } = setup([a]);
  t.after(() => engine.stop());
  await engine.upsert(spec('a', a, { healthy: fast() }));
  await eventually(() => (store.get('a')?.members?.members.length === 3 ? true : undefined), 'discovery');
  for (const m of a.members) m.up = false;
  const snap = await eventually(
    () => (store.get('a')?.members?.error !== undefined ? store.get('a') : undefined),
    'discovery error',
  );
  assert.match(snap!.members!.error!, /no endpoint answered MemberList/);
  assert.equal(snap!.members!.members.length, 3, 'members kept');
  await eventually(
    () =>
      collector.render().match(/inspection_etcd_endpoint_healthy\{[^}]*\} 0/g)?.length === 3
        ? true
        : undefined,
    'all unhealthy',
  );
  assert.match(collector.render(), /inspection_etcd_member_discovery_success\{clusterName="a"\} 0/);
});

test('a spec without endpoints says why and runs nothing; one without features reads membership only', async (t) => {
  const a = new FakeCluster(2800);
  const clock = new FakeClock();
  const { engine, store } = setup([a], clock);
  t.after(() => engine.stop());
  await engine.upsert(spec('none', a, { healthy: fast() }, { endpoints: [] }));
  await engine.upsert(spec('idle', a, {}));
  assert.deepEqual(store.get('none')?.configErrors, ['no endpoints configured: nothing to inspect']);
  assert.deepEqual(store.get('idle')?.features, {});
  await clock.advance(60_000);
  assert.equal(store.get('none')?.members, undefined, 'no discovery without endpoints');
  assert.ok(store.get('idle')?.members !== undefined, 'membership is still read');
  assert.deepEqual(
    a.calls.filter((c) => !c.startsWith('MemberList') && !c.startsWith('Status')),
    [],
    'no feature call',
  );
});

test('membersIntervalSeconds sets how often a cluster without features reads its membership', async (t) => {
  const a = new FakeCluster(2900);
  const clock = new FakeClock();
  const { engine } = setup([a], clock);
  t.after(() => engine.stop());
  // Each discovery asks every known member for its status once.
  const discoveries = (): number => a.calls.filter((c) => c === 'Status@127.0.0.1:2900').length;
  await engine.upsert(spec('a', a, {}, { membersIntervalSeconds: 0.05 }));
  await eventually(() => discoveries() === 1, 'the first membership read');
  /** ms until the loop's next round, once the round in flight has finished. */
  const nextRoundIn = async (): Promise<number> =>
    (await eventually(() => clock.nextTimerAt(), 'the membership loop to wait')) - clock.now();
  for (let reads = 2; reads <= 4; reads++) {
    assert.equal(await nextRoundIn(), 50);
    await clock.advance(50);
    await eventually(() => discoveries() === reads, `membership read ${reads}`);
  }
  // Without the field a cluster without features reads its membership every 30 s.
  await engine.upsert(spec('a', a, {}));
  await eventually(() => discoveries() === 5, 'a read when the interval changes');
  assert.equal(await nextRoundIn(), 30_000);
  await clock.advance(29_999);
  assert.equal(discoveries(), 5, 'no read within 30 s');
  await clock.advance(1);
  await eventually(() => discoveries() === 6, 'the read 30 s later');
});

test("a cluster's labels are on every series: same-named clusters with different labels never collide", async (t) => {
  const a = new FakeCluster(2900);
  const b = new FakeCluster(2950);
  const { engine, collector, store } = setup([a, b]);
  t.after(() => engine.stop());
  await engine.upsert(spec('ops/prod', a, { alarm: fast() }, { name: 'prod', labels: { namespace: 'ops' } }));
  await engine.upsert(spec('dev/prod', b, { alarm: fast() }, { name: 'prod', labels: { namespace: 'dev' } }));
  const text = await eventually(() => {
    const rendered = collector.render();
    return rendered.includes('inspection_etcd_alarms{clusterName="prod",namespace="ops"} 0\n') &&
      rendered.includes('inspection_etcd_alarms{clusterName="prod",namespace="dev"} 0\n')
      ? rendered
      : undefined;
  }, 'both clusters rendered');
  assert.match(
    text,
    /inspection_feature_runs_total\{clusterName="prod",namespace="ops",inspectionType="alarm"\} \d+\n/,
  );
  assert.deepEqual(store.get('ops/prod')?.labels, { namespace: 'ops' });
});
