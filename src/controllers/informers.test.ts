import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnapshotStore, type ClusterSnapshot, type MembersSnapshot } from '../engine/snapshot.ts';
import { clusterRetention, inspectionRetention, onSnapshotChange } from './informers.ts';
import { ETCD_CLUSTER_KIND, type EtcdCluster, type EtcdInspection } from '../k8s/api/index.ts';
import type { Shard } from '../engine/shard.ts';

const snapshot = (members?: MembersSnapshot): ClusterSnapshot => ({
  id: 'ns/a',
  name: 'a',
  labels: {},
  endpoints: [],
  storageBackend: 'v3',
  configErrors: [],
  ...(members !== undefined && { members }),
  features: {},
});

test('onSnapshotChange reacts when a part is replaced, not when the rest of the snapshot moves', () => {
  const store = new SnapshotStore();
  const reacted: string[] = [];
  const remove = onSnapshotChange(
    store,
    (s) => (s.members === undefined ? [] : [s.members]),
    (id) => reacted.push(id),
  );
  store.set(snapshot());
  assert.deepEqual(reacted, [], 'first seen without the part: nothing changed');
  const members: MembersSnapshot = { checkedAt: new Date(0), members: [] };
  store.set(snapshot(members));
  assert.deepEqual(reacted, ['ns/a']);
  store.set({ ...snapshot(members), endpoints: ['http://127.0.0.1:2379'] });
  assert.deepEqual(reacted, ['ns/a'], 'same part (by identity): no reaction');
  store.set(snapshot({ ...members }));
  assert.deepEqual(reacted, ['ns/a', 'ns/a'], 'a new object is a change');

  store.delete('ns/a');
  assert.deepEqual(reacted, ['ns/a', 'ns/a'], 'a cluster that leaves is forgotten, not reacted to');
  store.set(snapshot(members));
  assert.deepEqual(reacted, ['ns/a', 'ns/a', 'ns/a'], 'seen again after it left: first seen');

  remove();
  store.set(snapshot());
  assert.equal(reacted.length, 3, 'the remover unsubscribes');
});

test('with sharding, the caches keep whole the clusters the shard owns and the inspections of those clusters', () => {
  const owned = new Set(['uid-mine', 'ns/bare']);
  const shard: Shard = { owns: (k) => owned.has(k), describe: () => ({ member: 'me', members: 2 }) };
  const cluster = (name: string, uid?: string) =>
    ({
      metadata: { name, namespace: 'ns', ...(uid !== undefined && { uid }) },
    }) as EtcdCluster;
  const clusters = clusterRetention(shard);
  assert.equal(clusters.whole(clusters.tag(cluster('a', 'uid-mine'))), true);
  assert.equal(clusters.whole(clusters.tag(cluster('b', 'uid-theirs'))), false);
  assert.equal(clusters.tag(cluster('bare')), 'ns/bare', 'no UID: the key, as the controllers decide');

  const uids = new Map([['ns/named', 'uid-mine']]);
  const inspections = inspectionRetention(shard, (key) => uids.get(key));
  const inspection = (clusterName: string, ownerUid?: string) =>
    ({
      metadata: {
        name: `${clusterName}-healthy`,
        namespace: 'ns',
        ...(ownerUid !== undefined && {
          ownerReferences: [
            { apiVersion: 'x', kind: ETCD_CLUSTER_KIND, name: clusterName, uid: ownerUid, controller: true },
          ],
        }),
      },
      spec: { clusterName, inspectionType: 'healthy' },
    }) as unknown as EtcdInspection;
  const decide = (i: EtcdInspection): boolean => inspections.whole(inspections.tag(i));
  assert.equal(inspections.tag(inspection('a', 'uid-mine')), 'uid-mine', 'the controlling cluster’s UID');
  assert.equal(decide(inspection('a', 'uid-mine')), true);
  assert.equal(decide(inspection('b', 'uid-theirs')), false);
  // Made by hand (no owner): the cluster it names, through its UID when that cluster is cached.
  assert.equal(decide(inspection('named')), true);
  assert.equal(decide(inspection('bare')), true, 'not cached: its key decides');
  assert.equal(decide(inspection('unknown')), false);
});
