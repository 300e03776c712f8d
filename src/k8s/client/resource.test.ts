import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeDecodeError } from './errors.ts';
import { collectionPath, decodeObject, etcdClusterResource, objectPath, secretResource } from './resource.ts';
import { toWatchEvent } from './typed.ts';

const cluster = {
  apiVersion: 'etcdmonitor.dev/v1alpha1',
  kind: 'EtcdCluster',
  metadata: { name: 'a', namespace: 'ops', resourceVersion: '7', managedFields: [{ manager: 'kubectl' }] },
  spec: { endpoints: ['http://e:2379'] },
};

describe('resource paths', () => {
  it('builds core and group paths, namespaced and across namespaces', () => {
    assert.equal(
      collectionPath(etcdClusterResource, 'ops'),
      '/apis/etcdmonitor.dev/v1alpha1/namespaces/ops/etcdclusters',
    );
    assert.equal(
      collectionPath(etcdClusterResource, undefined),
      '/apis/etcdmonitor.dev/v1alpha1/etcdclusters',
    );
    assert.equal(
      objectPath(etcdClusterResource, 'ops', 'a', 'status'),
      '/apis/etcdmonitor.dev/v1alpha1/namespaces/ops/etcdclusters/a/status',
    );
    assert.equal(objectPath(secretResource, 'ops', 's'), '/api/v1/namespaces/ops/secrets/s');
    assert.throws(() => objectPath(secretResource, undefined, 's'), /namespaced/);
  });
});

describe('decodeObject', () => {
  it('checks the schema, applies defaults, drops managedFields, fills apiVersion/kind of list items', () => {
    const decoded = decodeObject(etcdClusterResource, cluster);
    assert.equal(decoded.spec.storageBackend, 'v3');
    assert.equal('managedFields' in decoded.metadata, false);
    assert.ok('managedFields' in cluster.metadata, 'the input is left alone');
    const secret = decodeObject(secretResource, {
      metadata: { name: 's', namespace: 'ops' },
      data: { a: 'Yg==' },
    });
    assert.equal(secret.kind, 'Secret');
    assert.equal(secret.apiVersion, 'v1');
  });

  it('names the fields that do not match', () => {
    assert.throws(
      () => decodeObject(etcdClusterResource, { ...cluster, spec: { endpoints: [1] } }),
      (err: unknown) =>
        err instanceof KubeDecodeError &&
        /EtcdCluster ops\/a does not match its schema: spec\.endpoints\[0\]/.test(err.message),
    );
    assert.throws(() => decodeObject(etcdClusterResource, { ...cluster, kind: 'Other' }), KubeDecodeError);
  });
});

describe('toWatchEvent', () => {
  const decode = (raw: unknown) => decodeObject(etcdClusterResource, raw);

  it('types objects, bookmarks and errors', () => {
    const added = toWatchEvent({ type: 'ADDED', object: cluster }, decode, 'watch');
    assert.equal(added.type, 'ADDED');
    assert.deepEqual(
      toWatchEvent(
        { type: 'BOOKMARK', object: { kind: 'EtcdCluster', metadata: { resourceVersion: '99' } } },
        decode,
        'watch',
      ),
      {
        type: 'BOOKMARK',
        resourceVersion: '99',
      },
    );
    const error = toWatchEvent(
      {
        type: 'ERROR',
        object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version: 5 (9)' },
      },
      decode,
      'watch x',
    );
    assert.ok(error.type === 'ERROR');
    assert.equal(error.error.code, 410);
    assert.equal(error.error.message, 'watch x: 410 Expired: too old resource version: 5 (9)');
  });

  it('marks objects that do not decode as INVALID, keeping their resourceVersion', () => {
    const event = toWatchEvent({ type: 'MODIFIED', object: { ...cluster, spec: {} } }, decode, 'watch');
    assert.deepEqual(event, {
      type: 'INVALID',
      key: 'ops/a',
      problems: [{ field: 'spec.endpoints', message: 'required field is missing' }],
      resourceVersion: '7',
    });
  });
});
