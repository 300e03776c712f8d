/**
 * latency on real etcd: the probe's figures follow a follower paused with
 * SIGSTOP (its serializable read round trip grows, the finding names it,
 * and clears once the window has slid past); the probe key exists under a
 * lease while the feature runs and is gone once it stops (lease revoked),
 * and once a monitor killed with SIGKILL has been dead for the lease TTL
 * (lease expired). 3.4 has the same v3 calls: the write probe runs there too.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { InspectionServer } from '../../src/inspection-server.ts';
import type { LatencyDetails } from '../../src/features/latency/latency.ts';
import type { EtcdVersion, TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { DaemonProcess } from '../support/daemon-process.ts';
import { scrape } from '../support/scrape.ts';
import { every, hostPort, specFor } from '../support/specs.ts';
import { startInspectionServer } from '../support/inspection-server.ts';
import { clusterForTest } from '../support/clusters.ts';

const PREFIX = '/etcd-monitor/latency-probe/';

/** The probe keys under PREFIX with their lease, as etcdctl sees them. */
async function probeKeys(cluster: TestCluster): Promise<{ key: string; lease: number }[]> {
  const out = await cluster.etcdctl(['get', '--prefix', PREFIX, '-w', 'json']);
  const parsed = JSON.parse(out) as { kvs?: { key: string; lease?: number }[] };
  return (parsed.kvs ?? []).map((kv) => ({
    key: Buffer.from(kv.key, 'base64').toString(),
    lease: kv.lease ?? 0,
  }));
}

const latency = (daemon: InspectionServer, id: string) => daemon.store.get(id)?.features['latency']?.last;

for (const version of ['3.6', '3.4'] as EtcdVersion[]) {
  describe(`latency on etcd ${version}`, () => {
    test('figures follow a paused follower; the probe key is leased and gone when the probe stops', async (t) => {
      const cluster = await clusterForTest(t, {
        version,
        members: 3,
        name: `lat${version.replace('.', '')}`,
      });
      const { daemon, address } = await startInspectionServer(t);
      const options = {
        writeProbe: true,
        windowSeconds: 10,
        minSamples: 2,
        probeTimeoutSeconds: 30,
        serializableReadThresholdSeconds: 0.8,
        leaseTtlSeconds: 30,
      };
      await daemon.engine.upsert(
        specFor('lat', cluster, {
          latency: { ...every(1, options), timeoutSeconds: 60 },
          topology: every(1),
        }),
      );

      // One probe key, under a lease, with every probe measured on every member.
      const key = await eventually(async () => {
        const keys = await probeKeys(cluster);
        return keys.length === 1 && keys[0]!.lease !== 0 ? keys[0]! : undefined;
      }, 'one leased probe key');
      const d0 = await eventually(() => {
        const d = latency(daemon, 'lat')?.details as LatencyDetails | undefined;
        return d?.members.length === 3 && d.members.every((m) => m.probes.every((p) => p.samples >= 2))
          ? d
          : undefined;
      }, 'samples of every probe on every member');
      assert.equal(d0.probeKey, key.key);
      assert.deepEqual(
        d0.members[0]!.probes.map((p) => p.probe),
        ['serializable_read', 'write', 'linearizable_read'],
      );
      const metrics = await scrape(address);
      const ep0 = hostPort(cluster.endpoints[0]!);
      for (const probe of ['serializable_read', 'write', 'linearizable_read']) {
        const p99 = metrics.get(
          `inspection_etcd_probe_duration_seconds{clusterName="lat",endpoint="${ep0}",probe="${probe}",quantile="0.99"}`,
        );
        assert.ok(p99 !== undefined && p99 > 0, `${probe} p99 exported: ${p99}`);
      }

      // Pause a follower for 3 s: probes sent to it wait until it resumes.
      const leader = await eventually(async () => {
        const status = JSON.parse(await cluster.etcdctl(['endpoint', 'status', '-w', 'json'])) as {
          Endpoint: string;
          Status: { header: { member_id: number }; leader: number };
        }[];
        const l = status.find((s) => s.Status.header.member_id === s.Status.leader);
        return l?.Endpoint;
      }, 'the leader');
      const paused = cluster.members.findIndex((m) => m.clientURL !== leader);
      const pausedEndpoint = hostPort(cluster.members[paused]!.clientURL);
      const pid = cluster.members[paused]!.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        await sleep(3000);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
      const slow = await eventually(() => {
        const run = latency(daemon, 'lat');
        const problem = run?.problems.find((p) => p.includes(pausedEndpoint));
        return problem !== undefined ? { run, problem } : undefined;
      }, `a finding naming the paused member ${pausedEndpoint}`);
      assert.match(slow.problem, /slow serializable read — serializable read round trip p99 \d+ (ms|s) /);
      assert.match(slow.problem, /\(threshold 800 ms\)/);
      const finding = slow.run!.findings?.find((f) => f.member.includes(pausedEndpoint));
      assert.ok(
        finding !== undefined && (finding.value ?? 0) > 0.8 && finding.threshold === 0.8,
        JSON.stringify(finding),
      );
      const d1 = slow.run!.details as LatencyDetails;
      const judged = (endpoint: string): number =>
        d1.members.find((m) => m.endpoint === endpoint)!.probes.find((p) => p.probe === 'serializable_read')!
          .judged ?? 0;
      // The paused member's figure, not the others', took the pause.
      for (const m of cluster.members) {
        const e = hostPort(m.clientURL);
        if (e !== pausedEndpoint)
          assert.ok(judged(e) < judged(pausedEndpoint), `${e} below ${pausedEndpoint}`);
      }
      const slowMetric = await scrape(address);
      assert.equal(
        slowMetric.get(
          `inspection_etcd_probe_slow{clusterName="lat",endpoint="${pausedEndpoint}",probe="serializable_read"}`,
        ),
        1,
      );

      // Once the 10 s window has slid past the pause, the finding clears.
      await eventually(
        () => {
          const run = latency(daemon, 'lat');
          return run?.ok === true && run.problems.every((p) => !p.includes(pausedEndpoint));
        },
        'the finding to clear',
        60_000,
      );

      // Stopping the probe revokes its lease: the key is gone at once.
      await daemon.engine.upsert(specFor('lat', cluster, { topology: every(1) }));
      await eventually(async () => (await probeKeys(cluster)).length === 0, 'the probe key gone');
    });
  });
}

describe('latency probe key of a killed monitor', () => {
  test('expires with its lease', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 1, name: 'latkill' });
    const dir = await mkdtemp(join(tmpdir(), 'latency-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    const file = join(dir, 'monitor.yaml');
    await writeFile(
      file,
      [
        'clusters:',
        '  - name: k',
        `    endpoints: ['${cluster.endpoints[0]}']`,
        '    features:',
        '      latency: {intervalSeconds: 1, options: {writeProbe: true, leaseTtlSeconds: 5}}',
        '',
      ].join('\n'),
    );
    const daemon = new DaemonProcess(['--config', file, '--listen', '127.0.0.1:0']);
    t.after(() => daemon.stop());
    const key = await eventually(
      async () => {
        const keys = await probeKeys(cluster);
        return keys.length === 1 ? keys[0]! : undefined;
      },
      'the probe key',
      30_000,
    );
    assert.notEqual(key.lease, 0);
    const leases = (await cluster.etcdctl(['lease', 'list'])).trim().split('\n').slice(1);
    assert.equal(leases.length, 1, `one lease: ${leases.join(', ')}`);
    const ttl = await cluster.etcdctl(['lease', 'timetolive', leases[0]!.trim()]);
    assert.match(ttl, /granted with TTL\(5s\)/);
    // SIGKILL: nothing can revoke the lease; etcd deletes the key when it expires.
    daemon.signal('SIGKILL');
    await daemon.exited;
    await eventually(
      async () => (await probeKeys(cluster)).length === 0,
      'the key gone with its lease',
      60_000,
    );
  });
});
