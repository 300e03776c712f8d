import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint } from '../etcd/endpoint.ts';
import { Secret } from '../etcd/secret.ts';
import { connectionFingerprint, featureFingerprint, type ClusterSpec } from './spec.ts';

const base = (password: string, endpoint = 'http://127.0.0.1:2379'): ClusterSpec => ({
  id: 'a',
  name: 'a',
  endpoints: [parseEndpoint(endpoint)],
  storageBackend: 'v3',
  discoverMembers: true,
  client: { dialTimeoutMs: 1, requestTimeoutMs: 1, auth: { username: 'u', password: new Secret(password) } },
  features: {},
});

test('a changed password or endpoint changes the connection fingerprint, and the fingerprint never contains the password', () => {
  const a = connectionFingerprint(base('one'));
  assert.equal(connectionFingerprint(base('one')), a);
  assert.notEqual(connectionFingerprint(base('two')), a);
  assert.notEqual(connectionFingerprint(base('one', 'http://127.0.0.1:2380')), a);
  assert.equal(a.includes('one'), false);
});

test('feature fingerprints follow interval and options', () => {
  const f = featureFingerprint({ enabled: true, intervalSeconds: 30 });
  assert.equal(featureFingerprint({ enabled: true, intervalSeconds: 30 }), f);
  assert.notEqual(featureFingerprint({ enabled: true, intervalSeconds: 31 }), f);
  assert.notEqual(featureFingerprint({ enabled: true, intervalSeconds: 30, options: { x: 1 } }), f);
});
