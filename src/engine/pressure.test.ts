/**
 * Rounds under pressure (issue 12 point 2), on a FakeClock: a round that
 * waits for a slot of the global limiter is not charged that wait, the rounds
 * that fell due meanwhile are reported as skipped (never as failures), and
 * the first rounds of many clusters spread over their interval.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Engine } from './engine.ts';
import { SnapshotStore } from './snapshot.ts';
import type { RoundPressure } from './limiter.ts';
import { Limiter } from './limiter.ts';
import type { ClusterSpec } from './cluster-spec.ts';
import { startJitterMs } from './loop.ts';
import { silentLogger } from '../log.ts';
import { FakeCluster, fakeClients } from '../testing/fake-etcd.ts';
import { FakeClock } from '../testing/fake-clock.ts';
import { testSpec } from '../testing/cluster-spec.ts';

function spec(id: string, cluster: FakeCluster, intervalSeconds: number, feature = 'alarm'): ClusterSpec {
  return testSpec(
    id,
    [cluster.members[0]!.url],
    { [feature]: { intervalSeconds } },
    { client: { dialTimeoutMs: 1000, requestTimeoutMs: 60_000 } },
  );
}

class Recorder implements RoundPressure {
  readonly waits: { feature: string; seconds: number; skipped: number }[] = [];
  waited(feature: string, seconds: number, skipped: number): void {
    this.waits.push({ feature, seconds, skipped });
  }
}

test('a round queued behind a saturated limiter is not failed: its wait is not charged, skipped rounds are counted', async (t) => {
  const clock = new FakeClock();
  const pressure = new Recorder();
  const store = new SnapshotStore();
  // Every call to `busy` hangs until its deadline: each of its rounds holds the only slot for 10 s.
  const busy = new FakeCluster(3100);
  for (const m of busy.members) m.hang = true;
  const ok = new FakeCluster(3200);
  const engine = new Engine({
    store,
    clients: fakeClients([busy, ok]),
    logger: silentLogger(),
    jitter: false,
    clock,
    maxConcurrentRounds: 1,
    pressure,
  });
  t.after(() => engine.stop());
  await engine.upsert(spec('busy', busy, 10, 'healthy'));
  await engine.upsert(spec('ok', ok, 1));
  for (let i = 0; i < 120; i++) await clock.advance(500);

  const okAlarm = store.get('ok')?.features['alarm'];
  assert.ok((okAlarm?.runs ?? 0) > 0, 'ok ran');
  assert.equal(okAlarm?.failures, 0, `ok never failed (last: ${okAlarm?.last?.error})`);
  // Its rounds waited up to a whole busy round (10 s) for the slot: about 10 of its 1 s rounds skipped each time.
  const okWaits = pressure.waits.filter((w) => w.feature === 'alarm' && w.seconds >= 1);
  assert.ok(okWaits.length > 0, 'rounds waited more than their 1 s deadline');
  for (const w of okWaits) assert.equal(w.skipped, Math.floor(w.seconds), JSON.stringify(w));
  // The slow cluster's rounds ran to their own deadline, which started when they got the slot.
  const busyHealthy = store.get('busy')?.features['healthy'];
  assert.ok((busyHealthy?.runs ?? 0) > 0);
  assert.deepEqual(engine.slots(), { max: 1, active: 1, waiting: engine.slots().waiting });
});

test('first rounds spread over a window that grows with the clusters, up to the interval and a minute', () => {
  const top = () => 0.999_999;
  assert.ok(startJitterMs(30_000, 1, top) < 2_000, 'one cluster starts within 2 s');
  assert.ok(startJitterMs(30_000, 100, top) < 2_000);
  const thousand = startJitterMs(10_000, 1_000, top);
  assert.ok(
    thousand > 9_000 && thousand < 10_000,
    `1,000 clusters at 10 s spread over the interval: ${thousand}`,
  );
  assert.ok(startJitterMs(3_600_000, 10_000, top) < 60_000, 'never more than a minute');
  assert.equal(
    startJitterMs(10_000, 1_000, () => 0),
    0,
  );
});

test('first rounds of 500 clusters are spread: no more than a few percent start in any 100 ms', async (t) => {
  const clock = new FakeClock();
  const store = new SnapshotStore();
  const cluster = new FakeCluster(3300);
  const engine = new Engine({
    store,
    clients: fakeClients([cluster]),
    logger: silentLogger(),
    jitter: true,
    clock,
    maxConcurrentRounds: 1_000,
  });
  t.after(() => engine.stop());
  for (let i = 0; i < 500; i++) await engine.upsert(spec(`c${i}`, cluster, 10));
  const firstAt = new Map<string, number>();
  for (let step = 0; step < 110; step++) {
    await clock.advance(100);
    for (const s of store.list())
      if ((s.features['alarm']?.runs ?? 0) > 0 && !firstAt.has(s.id)) firstAt.set(s.id, clock.now());
  }
  assert.equal(firstAt.size, 500, 'every cluster ran within its first interval (plus a step)');
  const perStep = new Map<number, number>();
  for (const at of firstAt.values()) perStep.set(at, (perStep.get(at) ?? 0) + 1);
  const peak = Math.max(...perStep.values());
  // Spread over 10 s: about 5 per 100 ms step; all at once would be 500.
  assert.ok(peak <= 40, `at most 40 first rounds in one 100 ms step, saw ${peak}`);
});

test('a slot is released once, however often its release is called', async () => {
  const limiter = new Limiter(1);
  const release = await limiter.acquire(new AbortController().signal);
  assert.deepEqual(limiter.stats(), { max: 1, active: 1, waiting: 0 });
  release();
  release();
  assert.equal(limiter.active, 0);
});
