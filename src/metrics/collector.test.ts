import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotStore, type ClusterSnapshot, type FeatureSnapshot } from '../engine/snapshot.ts';
import { ExpositionAssembly } from './assembly.ts';
import { InspectionCollector } from './collector.ts';

const FAMILY = { name: 'inspection_etcd_endpoint_healthy', type: 'gauge', help: 'H.', labels: [] } as const;

function feature(name: string, runs: number, value: number): FeatureSnapshot {
  return {
    name,
    intervalSeconds: 10,
    runs,
    failures: 0,
    consecutiveFailures: 0,
    last: {
      ok: true,
      summary: '',
      problems: [],
      details: undefined,
      metrics: [{ name: FAMILY.name, labels: { endpoint: `${name}:2379` }, value }],
      startedAt: new Date(1_000_000),
      durationMs: 5,
    },
  };
}

function cluster(name: string, labels: Record<string, string>, features: FeatureSnapshot[]): ClusterSnapshot {
  return {
    id: `ns/${name}`,
    name,
    labels,
    endpoints: [],
    storageBackend: 'v3',
    configErrors: [],
    features: Object.fromEntries(features.map((f) => [f.name, f])),
  };
}

/** The sample lines of the cluster's parts, as an exposition of this cluster alone joins them. */
function lines(collector: InspectionCollector, c: ClusterSnapshot): string {
  const text = new ExpositionAssembly(collector.families).assemble([collector.clusterParts(c)]).toString();
  return text.replace(/^# .*\n/gm, '');
}

test('a part of a cluster that did not change is reused, what changed is rendered anew', () => {
  const store = new SnapshotStore();
  const collector = new InspectionCollector({ store, featureMetrics: [FAMILY] });
  const slow = feature('quota', 1, 7);
  const first = cluster('a', {}, [feature('healthy', 1, 1), slow]);
  store.set(first);
  const whole = (): string => collector.render().replace(/^# .*\n/gm, '');
  assert.equal(lines(collector, first), whole(), 'the parts make what a whole render makes');

  // A round of healthy: a new object for it, the same one for quota.
  const second = { ...first, features: { ...first.features, healthy: feature('healthy', 2, 0) } };
  store.set(second);
  const text = lines(collector, second);
  assert.equal(text, whole());
  const [healthyBefore, quotaBefore] = collector.clusterParts(first);
  const [healthyAfter, quotaAfter] = collector.clusterParts(second);
  assert.equal(quotaAfter, quotaBefore, 'the unchanged part is not rendered again');
  assert.notEqual(healthyAfter, healthyBefore);
  assert.match(text, /inspection_feature_runs_total\{clusterName="a",inspectionType="healthy"\} 2\n/);
  assert.match(text, /inspection_etcd_endpoint_healthy\{clusterName="a",endpoint="healthy:2379"\} 0\n/);
  assert.match(text, /inspection_etcd_endpoint_healthy\{clusterName="a",endpoint="quota:2379"\} 7\n/);
});

test('a reused part follows a change of the cluster name or labels', () => {
  const store = new SnapshotStore();
  const collector = new InspectionCollector({ store, featureMetrics: [FAMILY], metricPrefix: 'kstone_' });
  const shared = feature('quota', 3, 7);
  const before = cluster('a', { team: 'x' }, [shared]);
  store.set(before);
  assert.match(
    lines(collector, before),
    /kstone_inspection_failed_num\{clusterName="a",team="x",inspectionType="quota"\} 0/,
  );
  // The spec was edited: new name and labels, the feature's result object is the same.
  const after = cluster('b', { team: 'y' }, [shared]);
  store.set(after);
  const text = lines(collector, after);
  assert.doesNotMatch(text, /clusterName="a"|team="x"/);
  assert.match(
    text,
    /kstone_inspection_etcd_endpoint_healthy\{clusterName="b",team="y",endpoint="quota:2379"\} 7\n/,
  );
});
