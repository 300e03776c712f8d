import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EtcdCluster, EtcdInspection, ValidEtcdCluster } from '../../k8s/api/index.ts';
import { deepFreeze, type DeepReadonly } from '../../k8s/client/index.ts';
import {
  CLUSTER_LABEL,
  desiredInspections,
  inspectionLabels,
  newInspection,
  planInspections,
} from './inspections.ts';

const UID = 'uid-prod';
const cluster = {
  name: 'prod',
  namespace: 'ops',
  clusterType: 'imported',
  features: {
    healthy: { enabled: true, source: 'spec' },
    alarm: { enabled: true, source: 'spec' },
    request: { enabled: false, source: 'spec' },
  },
} as unknown as ValidEtcdCluster;
const interval = (f: string) => (f === 'healthy' ? 10 : 30);

function existing(
  name: string,
  spec: Partial<EtcdInspection['spec']>,
  meta: Partial<EtcdInspection['metadata']> = {},
  ownerUid: string | null = UID,
): DeepReadonly<EtcdInspection> {
  return deepFreeze({
    apiVersion: 'etcdmonitor.dev/v1alpha1',
    kind: 'EtcdInspection',
    metadata: {
      name,
      namespace: 'ops',
      labels: { [CLUSTER_LABEL]: 'prod' },
      ...(ownerUid !== null && {
        ownerReferences: [
          {
            apiVersion: 'etcdmonitor.dev/v1alpha1',
            kind: 'EtcdCluster',
            name: 'prod',
            uid: ownerUid,
            controller: true,
          },
        ],
      }),
      ...meta,
    },
    spec: {
      clusterName: 'prod',
      inspectionType: 'healthy',
      inspectionProvider: 'imported',
      intervalInSecond: 10,
      ...spec,
    },
  });
}

describe('the EtcdInspections of an EtcdCluster', () => {
  it("one per enabled feature, named <cluster>-<feature>, at the feature's interval", () => {
    const desired = desiredInspections(cluster, interval);
    assert.deepEqual(
      desired.map((d) => [d.name, d.spec]),
      [
        [
          'prod-healthy',
          {
            clusterName: 'prod',
            inspectionType: 'healthy',
            inspectionProvider: 'imported',
            intervalInSecond: 10,
          },
        ],
        [
          'prod-alarm',
          {
            clusterName: 'prod',
            inspectionType: 'alarm',
            inspectionProvider: 'imported',
            intervalInSecond: 30,
          },
        ],
      ],
    );
    assert.deepEqual(inspectionLabels('prod'), { [CLUSTER_LABEL]: 'prod' });
    assert.deepEqual(
      inspectionLabels('x'.repeat(64)),
      {},
      'a name too long for a label value gets no label (the owner reference links them)',
    );
  });

  it('creates what is missing, owned by the cluster as its controller', () => {
    const desired = desiredInspections(cluster, interval);
    const actions = planInspections(UID, desired, () => undefined, []);
    assert.deepEqual(
      actions.map((a) => `${a.kind} ${a.kind === 'create' ? a.desired.name : ''}`),
      ['create prod-healthy', 'create prod-alarm'],
    );
    const owner = deepFreeze({
      apiVersion: 'etcdmonitor.dev/v1alpha1',
      kind: 'EtcdCluster',
      metadata: { name: 'prod', namespace: 'ops', uid: UID },
      spec: { endpoints: ['http://e:2379'] },
    }) as DeepReadonly<EtcdCluster>;
    const obj = newInspection(owner, desired[0]!);
    assert.deepEqual(obj.metadata.ownerReferences, [
      {
        apiVersion: 'etcdmonitor.dev/v1alpha1',
        kind: 'EtcdCluster',
        name: 'prod',
        uid: UID,
        controller: true,
        blockOwnerDeletion: true,
      },
    ]);
    assert.equal(obj.metadata.namespace, 'ops');
  });

  it('leaves what matches, updates a changed interval, deletes what is no longer enabled, replaces a changed immutable field', () => {
    const desired = desiredInspections(cluster, interval);
    const objects = new Map([
      ['prod-healthy', existing('prod-healthy', { intervalInSecond: 10 })],
      ['prod-alarm', existing('prod-alarm', { inspectionType: 'alarm', intervalInSecond: 60 })],
    ]);
    const request = existing('prod-request', { inspectionType: 'request' });
    const actions = planInspections(UID, desired, (n) => objects.get(n), [...objects.values(), request]);
    assert.deepEqual(
      actions.map((a) => `${a.kind} ${'current' in a ? a.current.metadata.name : a.desired.name}`),
      ['update prod-alarm', 'delete prod-request'],
    );
    const renamed = existing('prod-healthy', { clusterName: 'other' });
    assert.deepEqual(
      planInspections(UID, desired.slice(0, 1), () => renamed, [renamed]).map((a) => a.kind),
      ['delete'],
    );
  });

  it('never touches an inspection it does not control; waits for one being deleted', () => {
    const desired = desiredInspections(cluster, interval).slice(0, 1);
    const foreign = existing('prod-healthy', {}, {}, null);
    assert.deepEqual(
      planInspections(UID, desired, () => foreign, []).map((a) => a.kind),
      ['conflict'],
    );
    const stale = existing('prod-healthy', {}, {}, 'uid-of-an-old-prod');
    assert.deepEqual(
      planInspections(UID, desired, () => stale, [stale]).map((a) => a.kind),
      ['conflict'],
      'another object of the same name',
    );
    const leaving = existing('prod-healthy', {}, { deletionTimestamp: '2025-01-01T00:00:00Z' });
    assert.deepEqual(
      planInspections(UID, desired, () => leaving, [leaving]),
      [],
    );
  });
});
