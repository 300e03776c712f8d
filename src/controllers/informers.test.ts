import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SnapshotStore, type ClusterSnapshot, type MembersSnapshot } from '../engine/snapshot.ts';
import { onSnapshotChange } from './informers.ts';

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
