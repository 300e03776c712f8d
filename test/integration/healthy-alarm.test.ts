/**
 * healthy and alarm on real etcd 3.4 and 3.6: the normal path, a member that
 * stops and comes back, a real NOSPACE alarm, and a cluster-wide CORRUPT
 * alarm (member ID 0).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InspectionServer } from '../../src/inspection-server.ts';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import type { EtcdV3MemberClient } from '../../src/etcd/types.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { silentLogger } from '../../src/log.ts';
import { startEtcdCluster, type EtcdVersion, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { family, scrape, seriesReaches } from '../support/scrape.ts';
import { clientOptionsFor, every, hostPort, specFor } from '../support/specs.ts';
import { startInspectionServer } from '../support/inspection-server.ts';
import { clusterForTest, v3ClientFor } from '../support/clusters.ts';

for (const version of ['3.4', '3.6'] as EtcdVersion[]) {
  describe(`healthy and alarm on etcd ${version}`, () => {
    let cluster: TestCluster;
    let daemon: InspectionServer;
    let address: string;

    before(async () => {
      cluster = await startEtcdCluster({ version, members: 3, name: `ha${version.replace('.', '')}` });
      daemon = new InspectionServer({ logger: silentLogger(), registry: featureRegistry, jitter: false });
      address = await daemon.listen('127.0.0.1:0');
      await daemon.engine.upsert(specFor('main', cluster, { healthy: every(1), alarm: every(1) }));
    });
    after(async () => {
      await daemon?.close();
      await cluster?.stop();
    });

    const healthy = async (): Promise<Map<string, number>> =>
      family(await scrape(address), 'inspection_etcd_endpoint_healthy');
    const series = (url: string): string => `{clusterName="main",endpoint="${hostPort(url)}"}`;

    test('every member is healthy, with its status in the snapshot', async () => {
      const h = await eventually(async () => {
        const values = await healthy();
        return values.size === 3 && [...values.values()].every((v) => v === 1) ? values : undefined;
      }, 'three healthy members');
      for (const url of cluster.endpoints) assert.equal(h.get(series(url)), 1);
      const snap = daemon.store.get('main')!;
      const members = snap.members!.members;
      assert.equal(members.filter((m) => m.role === 'leader').length, 1);
      for (const m of members) {
        assert.equal(typeof m.id, 'bigint');
        assert.match(m.version ?? '', new RegExp(`^${version.replace('.', '\\.')}\\.`));
        assert.ok((m.raftIndex ?? 0n) > 0n && (m.dbSize ?? 0n) > 0n);
      }
      const all = await scrape(address);
      assert.equal(all.get('inspection_etcd_alarms{clusterName="main"}'), 0);
      assert.equal(all.get('inspection_feature_success{clusterName="main",inspectionType="healthy"}'), 1);
    });

    test('a stopped member goes to 0 within one interval and back to 1 after restart', async () => {
      await eventually(
        async () => ((await healthy()).get(series(cluster.endpoints[2]!)) === 1 ? true : undefined),
        'member healthy',
      );
      const rounds = (): number => daemon.store.get('main')!.features.healthy!.runs;
      await cluster.stopMember(2);
      const roundsBefore = rounds();
      await eventually(
        async () => ((await healthy()).get(series(cluster.endpoints[2]!)) === 0 ? true : undefined),
        'member unhealthy',
        30_000,
      );
      // Counted in rounds, not seconds: the first round that starts after the stop reports it (a round
      // already in flight may still say healthy, and one more may end while the scrape is read).
      assert.ok(rounds() - roundsBefore <= 3, `unhealthy after ${rounds() - roundsBefore} rounds`);
      const h = await healthy();
      assert.equal(h.get(series(cluster.endpoints[0]!)), 1, 'other members unaffected');
      assert.equal(h.get(series(cluster.endpoints[1]!)), 1, 'other members unaffected');
      // The member status is refreshed on the membership interval, not with the healthy round that saw
      // the member go: the error shows on the next refresh.
      const memberError = (): string | undefined =>
        daemon.store.get('main')!.members!.members.find((m) => m.endpoint === hostPort(cluster.endpoints[2]!))
          ?.error;
      const error = await eventually(memberError, 'the stopped member has a status error');
      assert.match(error, /127\.0\.0\.1/, 'the error names the member');
      await cluster.startMember(2);
      await eventually(
        async () => ((await healthy()).get(series(cluster.endpoints[2]!)) === 1 ? true : undefined),
        'member healthy again',
        20_000,
      );
    });

    test('a cluster-wide CORRUPT alarm (member ID 0) shows and disappears when disarmed', async (t) => {
      const client: EtcdV3MemberClient = createV3MemberClient(
        parseEndpoint(cluster.endpoints[0]!),
        clientOptionsFor(cluster),
      );
      t.after(() => client.close());
      await client.alarmActivate({ memberId: 0n, alarm: 'CORRUPT' });
      try {
        const alarms = await eventually(async () => {
          const a = family(await scrape(address), 'inspection_etcd_endpoint_alarm');
          return a.size > 0 ? a : undefined;
        }, 'CORRUPT alarm');
        assert.deepEqual(
          [...alarms.entries()],
          [['{clusterName="main",endpoint="cluster",alarmType="CORRUPT"}', 1]],
        );
      } finally {
        await client.alarmDisarm({ memberId: 0n, alarm: 'CORRUPT' });
      }
      await eventually(
        async () =>
          family(await scrape(address), 'inspection_etcd_endpoint_alarm').size === 0 ? true : undefined,
        'alarm cleared',
      );
      assert.equal((await scrape(address)).get('inspection_etcd_alarms{clusterName="main"}'), 0);
    });
  });
}

describe('a real NOSPACE alarm', () => {
  test('shows per member, and its series disappears after compaction, defragmentation and disarm', async (t) => {
    const cluster = await clusterForTest(t, {
      version: '3.6',
      members: 1,
      quotaBackendBytes: 2 * 1024 * 1024,
      name: 'nospace',
    });
    const { daemon, address } = await startInspectionServer(t);
    await daemon.engine.upsert(specFor('full', cluster, { healthy: every(1), alarm: every(1) }));

    const client = v3ClientFor(t, cluster);
    const value = Buffer.alloc(256 * 1024, 'x');
    let filled = false;
    for (let i = 0; i < 64 && !filled; i++) {
      try {
        await client.put(`/fill/${i}`, value);
      } catch (err) {
        assert.match(String(err), /database space exceeded/);
        filled = true;
      }
    }
    assert.ok(filled, 'the quota was reached');

    const member = hostPort(cluster.endpoints[0]!);
    const key = `{clusterName="full",endpoint="${member}",alarmType="NOSPACE"}`;
    await eventually(
      async () =>
        family(await scrape(address), 'inspection_etcd_endpoint_alarm').get(key) === 1 ? true : undefined,
      'NOSPACE alarm',
    );
    await seriesReaches(
      address,
      `inspection_etcd_endpoint_healthy{clusterName="full",endpoint="${member}"}`,
      0,
      'unhealthy while NOSPACE',
    );

    // The documented recovery: compact, defragment, disarm.
    await client.deleteRange('/fill/', '/fill0');
    const { header } = await client.range({ key: '/', countOnly: true });
    await client.compact(header.revision, { physical: true });
    await client.defragment();
    for (const alarm of await client.alarmList()) await client.alarmDisarm(alarm);
    await eventually(
      async () =>
        family(await scrape(address), 'inspection_etcd_endpoint_alarm').size === 0 ? true : undefined,
      'alarm series gone',
    );
    await seriesReaches(
      address,
      `inspection_etcd_endpoint_healthy{clusterName="full",endpoint="${member}"}`,
      1,
      'healthy again',
    );
  });
});
