/**
 * The two controllers end to end, in this process (so the test can look at
 * their engines and scrape their /metrics), each as its own ServiceAccount
 * of deploy/rbac.yaml and holding its own Lease, on a real kube-apiserver and
 * real etcd clusters (3 TLS members; 1 plain member):
 *   (a) a TLS cluster with every feature: status, conditions, inspections, series;
 *   (d) a member stopped and restarted: member status and Healthy follow;
 *   (b) a feature disabled, an interval changed, the cluster deleted;
 *   (c) invalid objects: refused at admission, or reported (condition + Event)
 *       while another cluster is served; a Secret created later is picked up;
 *   (f) the same name in two namespaces: distinct series.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Manager } from '../../src/controllers/manager.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { isInvalid } from '../../src/k8s/client/index.ts';
import type { EtcdInspection } from '../../src/k8s/api/index.ts';
import { createLogger } from '../../src/log.ts';
import { ImportedProvider, ProviderRegistry, type ProviderCluster } from '../../src/providers/index.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { hostPort } from '../support/specs.ts';
import {
  condition,
  createCluster,
  createTlsSecret,
  eventsAbout,
  clusterInPhase,
  getCluster,
  inspectionsOf,
  namespace,
  OPERATOR_NAMESPACE,
  scrapeAt,
  seriesWith,
  startBed,
  type Bed,
  type Features,
} from './helpers.ts';

const logger = createLogger({ level: process.env['ETCD_MONITOR_TEST_LOG'] ?? 'silent', format: 'json' });

/** The imported provider, recording each time it tells the controller that a cluster changed. */
class RecordingProvider extends ImportedProvider {
  readonly changes: string[] = [];
  override equal(a: ProviderCluster, b: ProviderCluster): boolean {
    const same = super.equal(a, b);
    if (!same) this.changes.push(`${b.cluster.namespace}/${b.cluster.name}`);
    return same;
  }
}

const ALL_FEATURES: Features = {
  healthy: { intervalSeconds: 1 },
  alarm: { intervalSeconds: 1 },
  // A test-bed cluster is never compacted: hash at the checked revision to get a hash verdict.
  consistency: { intervalSeconds: 2, options: { hashRevision: 'current' } },
  request: { intervalSeconds: 2 },
};

describe('EtcdCluster and EtcdInspection controllers on a real kube-apiserver', () => {
  let bed: Bed;
  let tlsEtcd: TestCluster;
  let plainEtcd: TestCluster;
  let clusterManager: Manager;
  let inspectionManager: Manager;
  let metrics: string;
  const recording = new RecordingProvider();
  const providers = new ProviderRegistry();
  providers.register('imported', () => recording);
  const changes = (key: string) => recording.changes.filter((c) => c === key).length;

  async function manager(sa: 'etcdcluster' | 'inspection'): Promise<{ manager: Manager; address: string }> {
    const m = new Manager({
      kubeConfig: bed.server.kubeConfigFor(await bed.token(sa)),
      controllers: [sa],
      features: featureRegistry,
      providers,
      logger,
      workers: 2,
      jitter: false,
      timeouts: { dialTimeoutMs: 2_000, requestTimeoutMs: 2_000 },
      leaderElection: {
        leaseName: `e2e-${sa}`,
        leaseNamespace: OPERATOR_NAMESPACE,
        leaseDurationMs: 4_000,
        renewDeadlineMs: 2_000,
        retryPeriodMs: 500,
      },
    });
    return { manager: m, address: await m.start('127.0.0.1:0') };
  }

  before(async () => {
    [bed, tlsEtcd, plainEtcd] = await Promise.all([
      startBed(),
      startEtcdCluster({ version: '3.6', members: 3, tls: true, name: 'e2etls' }),
      startEtcdCluster({ version: '3.6', members: 1, name: 'e2eplain' }),
    ]);
    const [c, i] = await Promise.all([manager('etcdcluster'), manager('inspection')]);
    clusterManager = c.manager;
    inspectionManager = i.manager;
    metrics = i.address;
    await eventually(
      () => (clusterManager.isLeader() && inspectionManager.isLeader() ? true : undefined),
      'both controllers leading',
      20_000,
    );
  });

  after(async () => {
    await Promise.allSettled([clusterManager?.stop(), inspectionManager?.stop()]);
    await Promise.allSettled([bed?.stop(), tlsEtcd?.stop(), plainEtcd?.stop()]);
  });

  describe('a TLS cluster with every feature', () => {
    let ns: string;

    before(async () => {
      ns = await namespace(bed.server, 'tls');
      await createTlsSecret(bed.admin, ns, 'etcd-client', tlsEtcd);
      await createCluster(bed.admin, ns, 'prod', {
        endpoints: [tlsEtcd.endpoints[0]!],
        tlsSecret: 'etcd-client',
        features: ALL_FEATURES,
      });
    });

    it('(a) fills the status with every member, sets every condition true, owns one EtcdInspection per feature and exports the series', async () => {
      const members = tlsEtcd.endpoints.map(hostPort).sort();
      const cluster = await eventually(
        async () => {
          const c = await getCluster(bed.admin, ns, 'prod');
          const allTrue = ['Ready', 'Healthy', 'Consistent', 'AlarmsClear'].every(
            (t) => condition(c, t)?.status === 'True',
          );
          return c?.status?.phase === 'Running' && c.status.members?.length === 3 && allTrue ? c : undefined;
        },
        'a Running status with four true conditions',
        30_000,
      );
      const status = cluster.status!;
      assert.deepEqual(
        status.members!.map((m) => m.endpoint).sort(),
        members,
        'every member, discovered from one endpoint',
      );
      for (const m of status.members!) {
        assert.match(m.id, /^[0-9a-f]{1,16}$/, 'member IDs in hex');
        assert.equal(m.healthy, true);
        assert.match(m.version ?? '', /^3\.6\./);
        assert.ok((m.dbSize ?? 0) > 0);
        assert.deepEqual(m.clientURLs, [tlsEtcd.endpoints.find((e) => hostPort(e) === m.endpoint)]);
      }
      assert.equal(status.members!.filter((m) => m.role === 'leader').length, 1);
      assert.equal(status.membersReady, '3/3');
      assert.equal(status.leader, status.members!.find((m) => m.role === 'leader')!.name);
      assert.equal(status.version, tlsEtcd.binaryVersion);
      assert.equal(status.observedGeneration, cluster.metadata.generation);
      assert.ok(status.lastInspectionTime !== undefined);
      assert.deepEqual(cluster.metadata.finalizers, ['etcdmonitor.dev/cleanup']);
      assert.deepEqual(
        Object.fromEntries(
          Object.entries(status.featureGatesStatus ?? {}).map(([f, g]) => [
            f,
            `${g.enabled} ${g.inspection}`,
          ]),
        ),
        {
          alarm: 'true prod-alarm',
          consistency: 'true prod-consistency',
          healthy: 'true prod-healthy',
          request: 'true prod-request',
        },
      );

      const inspections = await eventually(
        async () => {
          const list = await inspectionsOf(bed.admin, ns);
          return list.length === 4 && list.every((i) => i.status?.phase === 'Ok') ? list : undefined;
        },
        'four EtcdInspections with phase Ok',
        30_000,
      );
      for (const i of inspections) {
        const feature = i.spec.inspectionType;
        assert.equal(i.metadata.name, `prod-${feature}`);
        assert.equal(i.spec.clusterName, 'prod');
        assert.equal(i.spec.inspectionProvider, 'imported');
        assert.equal(
          i.spec.intervalInSecond,
          ALL_FEATURES[feature]!.intervalSeconds,
          `${feature}: the cluster's interval`,
        );
        assert.equal(i.metadata.labels?.['etcdmonitor.dev/cluster'], 'prod');
        assert.deepEqual(
          i.metadata.ownerReferences?.map((r) => [r.kind, r.name, r.uid, r.controller]),
          [['EtcdCluster', 'prod', cluster.metadata.uid, true]],
        );
        assert.equal(i.status?.lastResult?.ok, true, `${feature}: ${i.status?.message}`);
        assert.ok(i.status?.lastUpdatedTime !== undefined);
      }

      // The statuses above come from earlier rounds: wait for a scrape in which every verdict is present.
      const series = await eventually(
        async () => {
          const s = await scrapeAt(metrics);
          const complete =
            members.every((endpoint) =>
              s.has(
                `inspection_etcd_endpoint_healthy{clusterName="prod",namespace="${ns}",endpoint="${endpoint}"}`,
              ),
            ) &&
            s.has(`inspection_etcd_node_diff_total{clusterName="prod",namespace="${ns}"}`) &&
            s.has(`inspection_etcd_consistency_hash_mismatch{clusterName="prod",namespace="${ns}"}`);
          return complete ? s : undefined;
        },
        'a scrape with every verdict',
        30_000,
      );
      const labels = { clusterName: 'prod', namespace: ns };
      for (const endpoint of members) {
        assert.equal(
          series.get(
            `inspection_etcd_endpoint_healthy{clusterName="prod",namespace="${ns}",endpoint="${endpoint}"}`,
          ),
          1,
        );
      }
      assert.equal(series.get(`inspection_etcd_alarms{clusterName="prod",namespace="${ns}"}`), 0);
      assert.equal(series.get(`inspection_etcd_node_diff_total{clusterName="prod",namespace="${ns}"}`), 0);
      assert.equal(
        series.get(`inspection_etcd_consistency_hash_mismatch{clusterName="prod",namespace="${ns}"}`),
        0,
      );
      assert.equal(series.get(`inspection_etcd_request_ready{clusterName="prod",namespace="${ns}"}`), 1);
      for (const feature of Object.keys(ALL_FEATURES)) {
        assert.equal(
          series.get(
            `inspection_feature_success{clusterName="prod",namespace="${ns}",inspectionType="${feature}"}`,
          ),
          1,
          feature,
        );
      }
      const prodSeries = [...series.keys()].filter((s) => s.includes('clusterName="prod"'));
      assert.ok(prodSeries.length > 20);
      assert.deepEqual(
        prodSeries.filter((s) => !s.includes(`namespace="${ns}"`)),
        [],
        'every series of the cluster carries its namespace',
      );
      assert.ok(seriesWith(series, labels, 'inspection_etcd_member_info').length === 3);

      assert.ok(
        (await eventsAbout(bed.server, ns, 'prod')).some((e) =>
          e.startsWith('Normal Imported: monitoring the cluster at https://'),
        ),
      );
      assert.equal(changes(`${ns}/prod`), 0, 'set up once, never re-applied');
    });

    it('(d) a stopped member: its status and the Healthy condition follow within an interval, and recover', async (t) => {
      const stopped = hostPort(tlsEtcd.endpoints[2]!);
      // From before the stop: the member stops answering somewhere during its graceful shutdown.
      const t0 = performance.now();
      await tlsEtcd.stopMember(2);
      // healthy runs every 1 s, membership too; then a status write, a watch event and a sync. The
      // deadline only guards against a hang; the time it took is printed, not asserted.
      const unhealthy = await eventually(
        async () => {
          const c = await getCluster(bed.admin, ns, 'prod');
          const member = c?.status?.members?.find((m) => m.endpoint === stopped);
          return condition(c, 'Healthy')?.status === 'False' && member?.healthy === false ? c : undefined;
        },
        'Healthy=False and the member unhealthy',
        40_000,
        50,
      );
      const took = performance.now() - t0;
      t.diagnostic(`Healthy=False ${Math.round(took)} ms after the member was told to stop`);
      const status = unhealthy.status!;
      assert.equal(condition(unhealthy, 'Healthy')?.reason, 'Unhealthy');
      assert.match(
        condition(unhealthy, 'Healthy')?.message ?? '',
        new RegExp(stopped.replace(/[.]/g, '\\.')),
      );
      assert.equal(status.phase, 'Degraded');
      assert.equal(status.membersReady, '2/3');
      assert.ok(
        (status.members!.find((m) => m.endpoint === stopped)?.errors ?? []).length > 0,
        'the member says why',
      );
      const healthy = await inspectionsOf(bed.admin, ns).then((l) =>
        l.find((i) => i.spec.inspectionType === 'healthy'),
      );
      assert.equal(healthy?.status?.phase, 'Problems');
      assert.equal(
        (await scrapeAt(metrics)).get(
          `inspection_etcd_endpoint_healthy{clusterName="prod",namespace="${ns}",endpoint="${stopped}"}`,
        ),
        0,
      );

      await tlsEtcd.startMember(2);
      await eventually(
        async () => {
          const c = await getCluster(bed.admin, ns, 'prod');
          return condition(c, 'Healthy')?.status === 'True' && c?.status?.membersReady === '3/3'
            ? true
            : undefined;
        },
        'Healthy again',
        20_000,
      );
      // The recorder writes Events asynchronously: wait for both transitions to reach the API.
      const events = await eventually(
        async () => {
          const list = await eventsAbout(bed.server, ns, 'prod');
          return list.some((e) => e.startsWith('Normal Healthy: Healthy: ')) ? list : undefined;
        },
        'the Healthy event',
        15_000,
      );
      assert.ok(
        events.some((e) => e.startsWith('Warning Unhealthy: Healthy: ')),
        events.join('\n'),
      );
      assert.ok(
        events.some((e) => e.startsWith('Normal Healthy: Healthy: ')),
        events.join('\n'),
      );
    });

    it('(b) a disabled feature loses its EtcdInspection and its series; a new interval reaches its inspection; deletion releases everything', async () => {
      const requestSeries = async () =>
        [...(await scrapeAt(metrics)).keys()].filter(
          (s) => s.startsWith('inspection_etcd_request_') && s.includes(`namespace="${ns}"`),
        );
      assert.ok((await requestSeries()).length > 0);
      await bed.admin.etcdClusters.patch(ns, 'prod', {
        spec: { features: { request: { enabled: false }, healthy: { intervalSeconds: 2 } } },
      });
      await eventually(
        async () =>
          (await inspectionsOf(bed.admin, ns)).some((i) => i.spec.inspectionType === 'request')
            ? undefined
            : true,
        'prod-request deleted',
      );
      await eventually(
        async () => ((await requestSeries()).length === 0 ? true : undefined),
        'request series gone',
      );
      const series = await scrapeAt(metrics);
      assert.equal(
        series.get(
          `inspection_feature_success{clusterName="prod",namespace="${ns}",inspectionType="request"}`,
        ),
        undefined,
      );
      assert.equal(
        series.get(
          `inspection_feature_success{clusterName="prod",namespace="${ns}",inspectionType="healthy"}`,
        ),
        1,
        'the other features keep running',
      );
      const healthy = await eventually(async () => {
        const i = (await inspectionsOf(bed.admin, ns)).find((x) => x.spec.inspectionType === 'healthy');
        return i?.spec.intervalInSecond === 2 ? i : undefined;
      }, 'the healthy inspection at 2 s');
      assert.equal(healthy.metadata.name, 'prod-healthy');
      await eventually(async () => {
        const c = await getCluster(bed.admin, ns, 'prod');
        const gate = c?.status?.featureGatesStatus?.['request'];
        return gate?.enabled === false &&
          gate.inspection === undefined &&
          c?.status?.observedGeneration === c?.metadata.generation
          ? true
          : undefined;
      }, 'featureGatesStatus.request disabled');

      assert.equal(
        changes(`${ns}/prod`),
        0,
        'new features and intervals do not change how the cluster is reached',
      );
      await bed.admin.etcdClusters.patch(ns, 'prod', { spec: { endpoints: tlsEtcd.endpoints.slice(0, 2) } });
      await eventually(() => (changes(`${ns}/prod`) === 1 ? true : undefined), 'the new endpoints applied');

      await bed.admin.etcdClusters.delete(ns, 'prod');
      await eventually(
        async () => ((await getCluster(bed.admin, ns, 'prod')) === undefined ? true : undefined),
        'the EtcdCluster gone (finalizer removed)',
      );
      assert.deepEqual(
        await inspectionsOf(bed.admin, ns),
        [],
        'every EtcdInspection deleted (no garbage collector runs here)',
      );
      await eventually(
        async () => (seriesWith(await scrapeAt(metrics), { namespace: ns }).length === 0 ? true : undefined),
        'every series of the cluster gone',
      );
    });
  });

  describe('invalid objects', () => {
    let ns: string;

    before(async () => {
      ns = await namespace(bed.server, 'invalid');
      await createCluster(bed.admin, ns, 'good', {
        endpoints: [plainEtcd.endpoints[0]!],
        features: { healthy: { intervalSeconds: 1 } },
      });
    });

    it('(c) are refused at admission, or reported with a condition and an Event while other clusters are served; a late Secret is picked up', async () => {
      await assert.rejects(
        createCluster(bed.admin, ns, 'no-scheme', { endpoints: ['10.0.0.1:2379'] }),
        (err: unknown) => {
          assert.ok(isInvalid(err), String(err));
          assert.match(String(err), /needs a scheme/);
          return true;
        },
      );

      await createCluster(bed.admin, ns, 'needs-secret', {
        endpoints: [tlsEtcd.endpoints[0]!],
        tlsSecret: 'late',
        features: { healthy: { intervalSeconds: 1 } },
      });
      await createCluster(bed.admin, ns, 'odd-feature', {
        endpoints: [plainEtcd.endpoints[0]!],
        features: { healthy: {}, bogus: {} },
      });
      const missing = await clusterInPhase(bed.admin, ns, 'needs-secret', 'Invalid');
      assert.deepEqual(
        [
          condition(missing, 'Ready')?.status,
          condition(missing, 'Ready')?.reason,
          condition(missing, 'Ready')?.message,
        ],
        ['False', 'InvalidSpec', `spec.tls: Secret ${ns}/late not found`],
      );
      const unknown = await clusterInPhase(bed.admin, ns, 'odd-feature', 'Invalid');
      assert.equal(
        condition(unknown, 'Ready')?.message,
        `spec.features.bogus: unknown feature "bogus" (known: ${featureRegistry.names().join(', ')})`,
      );
      for (const name of ['needs-secret', 'odd-feature']) {
        const events = await eventually(async () => {
          const list = await eventsAbout(bed.server, ns, name);
          return list.length > 0 ? list : undefined;
        }, `an Event about ${name}`);
        assert.ok(
          events.some((e) => e.startsWith('Warning InvalidSpec: Ready: spec.')),
          events.join('\n'),
        );
      }
      assert.deepEqual(
        (await inspectionsOf(bed.admin, ns)).map((i) => i.metadata.name),
        ['good-healthy'],
        'nothing is created for an invalid object',
      );

      // Not retried in a hot loop: the invalid objects are not written again while nothing changes.
      const versions = async () =>
        Promise.all(
          ['needs-secret', 'odd-feature'].map(
            async (n) => (await getCluster(bed.admin, ns, n))?.metadata.resourceVersion,
          ),
        );
      const before = await versions();
      const runsBefore =
        (await scrapeAt(metrics)).get(
          `inspection_feature_runs_total{clusterName="good",namespace="${ns}",inspectionType="healthy"}`,
        ) ?? 0;
      await new Promise((r) => setTimeout(r, 3_000));
      assert.deepEqual(await versions(), before);
      const good = await getCluster(bed.admin, ns, 'good');
      assert.equal(good?.status?.phase, 'Running', 'the valid cluster is served meanwhile');
      assert.ok(
        ((await scrapeAt(metrics)).get(
          `inspection_feature_runs_total{clusterName="good",namespace="${ns}",inspectionType="healthy"}`,
        ) ?? 0) >=
          runsBefore + 2,
        'its inspection keeps running',
      );

      await createTlsSecret(bed.admin, ns, 'late', tlsEtcd);
      const fixed = await eventually(
        async () => {
          const c = await getCluster(bed.admin, ns, 'needs-secret');
          return c?.status?.phase === 'Running' && condition(c, 'Ready')?.status === 'True' ? c : undefined;
        },
        'needs-secret Running once its Secret exists',
        20_000,
      );
      assert.equal(fixed.status?.members?.length, 3);
      await eventually(async () => {
        const i = (await inspectionsOf(bed.admin, ns)).find(
          (x) => x.metadata.name === 'needs-secret-healthy',
        );
        return i?.status?.phase === 'Ok' ? true : undefined;
      }, 'its inspection runs');
    });
  });

  it('(f) clusters of the same name in two namespaces have distinct series', async () => {
    const [a, b] = await Promise.all([namespace(bed.server, 'twin-a'), namespace(bed.server, 'twin-b')]);
    for (const ns of [a, b])
      await createCluster(bed.admin, ns, 'twin', {
        endpoints: [plainEtcd.endpoints[0]!],
        features: { healthy: { intervalSeconds: 1 } },
      });
    const endpoint = hostPort(plainEtcd.endpoints[0]!);
    const key = (ns: string) =>
      `inspection_etcd_endpoint_healthy{clusterName="twin",namespace="${ns}",endpoint="${endpoint}"}`;
    await eventually(async () => {
      const series = await scrapeAt(metrics);
      return series.get(key(a)) === 1 && series.get(key(b)) === 1 ? true : undefined;
    }, 'one healthy series per namespace');
    await bed.admin.etcdClusters.delete(a, 'twin');
    await eventually(async () => {
      const series = await scrapeAt(metrics);
      return series.get(key(a)) === undefined && series.get(key(b)) === 1 ? true : undefined;
    }, 'the deleted one gone, the other kept');
    const other = await getCluster(bed.admin, b, 'twin');
    assert.equal(other?.status?.phase, 'Running');
  });

  it('(g) an EtcdCluster that names no features gets the default inspections and their conditions', async (t) => {
    const ns = await namespace(bed.server, 'defaults');
    await createTlsSecret(bed.admin, ns, 'etcd-client', tlsEtcd);
    await createCluster(bed.admin, ns, 'plain-spec', {
      endpoints: [tlsEtcd.endpoints[0]!],
      tlsSecret: 'etcd-client',
    });
    // The ones that cost a few calls per member and round, as in the standalone config.
    const defaults = ['alarm', 'certificates', 'healthy', 'performance', 'quota', 'topology'];
    // performance judges latencies: on a loaded test machine it may rightly find problems.
    const ran = (i: EtcdInspection): boolean =>
      i.status?.phase === 'Ok' || (i.spec.inspectionType === 'performance' && i.status?.phase === 'Problems');
    const inspections = await eventually(
      async () => {
        const list = await inspectionsOf(bed.admin, ns);
        return list.length === defaults.length && list.every(ran) ? list : undefined;
      },
      'the default EtcdInspections with a verdict',
      // performance needs two rounds (30 s apart) for a verdict, and on a loaded machine a round that
      // times out costs another interval: three intervals and more before this guard fires.
      180_000,
    );
    assert.deepEqual(inspections.map((i) => i.spec.inspectionType).sort(), defaults);
    t.diagnostic(
      `EtcdInspection sizes (JSON, with status): ${inspections.map((i) => `${i.spec.inspectionType} ${JSON.stringify(i).length} B`).join(', ')}`,
    );
    const conditions = ['Healthy', 'AlarmsClear', 'WithinQuota', 'TopologyOk', 'CertificatesValid'];
    const cluster = await eventually(
      async () => {
        const c = await getCluster(bed.admin, ns, 'plain-spec');
        return conditions.every((t) => condition(c, t)?.status === 'True') ? c : undefined;
      },
      'a true condition for every default feature',
      60_000,
    );
    assert.deepEqual(
      Object.entries(cluster.status?.featureGatesStatus ?? {})
        .filter(([, g]) => g.enabled)
        .map(([f]) => f)
        .sort(),
      defaults,
    );
    // performance judges rates between two of its rounds: it may not have a verdict yet.
    const performance = condition(cluster, 'PerformanceOk');
    assert.notEqual(performance?.reason, 'FeatureDisabled', JSON.stringify(performance));
    // consistency and request are asked for by name: their conditions say so.
    assert.deepEqual(
      [condition(cluster, 'Consistent')?.status, condition(cluster, 'Consistent')?.reason],
      ['Unknown', 'FeatureDisabled'],
    );
  });
});
