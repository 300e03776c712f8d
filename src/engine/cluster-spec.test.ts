import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint } from '../etcd/endpoint.ts';
import { Secret } from '../etcd/secret.ts';
import { alarmFeature } from '../features/alarm/alarm.ts';
import { healthyFeature } from '../features/healthy/healthy.ts';
import {
  connectionFingerprint,
  featureFingerprint,
  membersIntervalSeconds,
  type ClusterSpec,
} from './cluster-spec.ts';

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

test('feature fingerprints follow the feature, interval, timeout and parsed options', () => {
  const healthy = healthyFeature;
  const f = featureFingerprint({ feature: healthy, intervalSeconds: 30, options: {} });
  assert.equal(featureFingerprint({ feature: healthy, intervalSeconds: 30, options: {} }), f);
  assert.notEqual(featureFingerprint({ feature: healthy, intervalSeconds: 31, options: {} }), f);
  assert.notEqual(
    featureFingerprint({ feature: healthy, intervalSeconds: 30, timeoutSeconds: 5, options: {} }),
    f,
  );
  assert.notEqual(featureFingerprint({ feature: healthy, intervalSeconds: 30, options: { x: 1 } }), f);
  assert.notEqual(featureFingerprint({ feature: alarmFeature, intervalSeconds: 30, options: {} }), f);
});

test('membership is read as often as the most frequent feature, at least every 30 s', () => {
  assert.equal(membersIntervalSeconds([]), 30);
  assert.equal(membersIntervalSeconds([60, 120]), 30);
  assert.equal(membersIntervalSeconds([60, 10, 15]), 10);
  assert.equal(membersIntervalSeconds([0.5]), 0.5);
});
