/**
 * Rounds under pressure on real processes: `etcd-monitor run` with one slot
 * (--max-concurrent-rounds 1), a frozen cluster (a black hole: every round
 * of it holds the slot until its deadline) and healthy clusters on a real
 * etcd member. The healthy clusters' rounds queue behind the frozen one's:
 * their wait shows in the monitor's own metrics and the rounds that fell due
 * meanwhile are counted as skipped, but none of them fails — only the frozen
 * cluster's own rounds do.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { freePort, startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { Blackhole } from '../support/blackhole.ts';
import { DaemonProcess } from '../support/daemon-process.ts';
import { scrape } from '../support/scrape.ts';

let etcd: TestCluster;
let hole: Blackhole;
let dir: string;
let daemon: DaemonProcess | undefined;

before(async () => {
  [etcd, hole] = await Promise.all([
    startEtcdCluster({ version: '3.6', members: 1, name: 'saturated' }),
    Blackhole.start(),
  ]);
  dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-saturated-'));
});

after(async () => {
  await daemon?.stop();
  await Promise.allSettled([etcd?.stop(), hole?.stop()]);
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

it('a saturated daemon skips rounds and says so, and never fails the clusters it could not get to', async () => {
  const healthy = ['a', 'b', 'c', 'd'];
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    [
      'clusters:',
      // Discovery off: the frozen cluster's feature rounds themselves hold the slot (3 s deadline each).
      `  - name: frozen\n    endpoints: [http://127.0.0.1:${hole.port}]\n    discoverMembers: false\n    features: {alarm: {intervalSeconds: 1, timeoutSeconds: 3}}`,
      ...healthy.map(
        (n) =>
          `  - name: ${n}\n    endpoints: [${etcd.endpoints[0]}]\n    features: {alarm: {intervalSeconds: 1}}`,
      ),
      '',
    ].join('\n'),
  );
  const address = `127.0.0.1:${await freePort()}`;
  daemon = new DaemonProcess(['-c', config, '--listen', address, '--max-concurrent-rounds', '1']);
  await daemon.waitLog(/"msg":"etcd-monitor running"/, 'the daemon running', 60_000);
  const series = await eventually(
    async () => {
      const s = await scrape(address);
      const skipped = [...s]
        .filter(([k]) => k.startsWith('etcd_monitor_rounds_skipped_total{'))
        .reduce((n, [, v]) => n + v, 0);
      const frozenFailed = s.get('inspection_failed_num{clusterName="frozen",inspectionType="alarm"}') ?? 0;
      const ran = healthy.every(
        (n) => (s.get(`inspection_feature_runs_total{clusterName="${n}",inspectionType="alarm"}`) ?? 0) >= 3,
      );
      return skipped >= 5 && frozenFailed >= 2 && ran ? s : undefined;
    },
    'rounds skipped behind the frozen cluster, and the healthy clusters inspected',
    120_000,
    500,
  );
  assert.equal(series.get('etcd_monitor_round_slots'), 1);
  // Waits of about one frozen round (3 s) were seen: longer than the healthy clusters' 1 s deadline.
  const count = series.get('etcd_monitor_round_queue_wait_seconds_count') ?? 0;
  const under1 = series.get('etcd_monitor_round_queue_wait_seconds_bucket{le="1"}') ?? 0;
  assert.ok(count - under1 > 0, 'some rounds waited more than 1 s for the slot');
  for (const n of healthy) {
    assert.equal(
      series.get(`inspection_failed_num{clusterName="${n}",inspectionType="alarm"}`),
      0,
      `${n} never failed`,
    );
    assert.equal(series.get(`inspection_feature_success{clusterName="${n}",inspectionType="alarm"}`), 1);
  }
});
