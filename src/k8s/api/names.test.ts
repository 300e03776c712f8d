import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { inspectionName } from './etcdinspection.ts';
import { controllerRef, objectKey, splitObjectKey } from './meta.ts';

describe('names and references', () => {
  it('names inspections <cluster>-<feature>, shortening (uniquely) what would pass 253 characters', () => {
    assert.equal(inspectionName('prod', 'healthy'), 'prod-healthy');
    const long = 'a'.repeat(250);
    const other = `${'a'.repeat(249)}b`;
    const name = inspectionName(long, 'consistency');
    assert.ok(name.length <= 253);
    assert.ok(name.endsWith('-consistency'));
    assert.notEqual(name, inspectionName(other, 'consistency'));
    assert.equal(name, inspectionName(long, 'consistency'), 'stable');
  });

  it('makes controller owner references from objects that have a uid', () => {
    const owner = {
      apiVersion: 'etcdmonitor.dev/v1alpha1',
      kind: 'EtcdCluster',
      metadata: { name: 'prod', uid: 'u-1' },
    };
    assert.deepEqual(controllerRef(owner), {
      apiVersion: 'etcdmonitor.dev/v1alpha1',
      kind: 'EtcdCluster',
      name: 'prod',
      uid: 'u-1',
      controller: true,
      blockOwnerDeletion: true,
    });
    assert.throws(() => controllerRef({ ...owner, metadata: { name: 'prod' } }), /has no uid yet/);
  });

  it('keys objects as namespace/name', () => {
    assert.equal(objectKey({ name: 'a', namespace: 'ops' }), 'ops/a');
    assert.equal(objectKey({ name: 'a' }), 'a');
    assert.deepEqual(splitObjectKey('ops/a'), { namespace: 'ops', name: 'a' });
    assert.deepEqual(splitObjectKey('a'), { namespace: undefined, name: 'a' });
  });
});
