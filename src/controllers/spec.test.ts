import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { registerBuiltinFeatures } from '../features/index.ts';
import { FeatureRegistry } from '../features/registry.ts';
import { formatProblems, type Secret, type ValidEtcdCluster } from '../k8s/api/index.ts';
import { deepFreeze, type DeepReadonly } from '../k8s/client/index.ts';
import { registerBuiltinProviders } from '../providers/index.ts';
import { ProviderRegistry } from '../providers/provider.ts';
import { suiteCertificates } from '../testing/certificates.ts';
import { etcdClusterObject } from '../testing/etcd-cluster-object.ts';
import { clusterSpecFrom, featureInterval, SpecCache, validateCluster, type SecretSource } from './spec.ts';

const features = registerBuiltinFeatures(new FeatureRegistry());
const providers = registerBuiltinProviders(new ProviderRegistry());

function valid(obj: unknown): ValidEtcdCluster {
  const v = validateCluster(obj, features, providers);
  assert.ok(v.ok, v.ok ? '' : formatProblems(v.problems));
  return v.value;
}

function secrets(list: Record<string, Record<string, string>>): SecretSource {
  const store = new Map<string, DeepReadonly<Secret>>();
  for (const [key, data] of Object.entries(list)) {
    const [namespace, name] = key.split('/') as [string, string];
    store.set(
      key,
      deepFreeze({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name, namespace },
        data: Object.fromEntries(
          Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
        ),
      }),
    );
  }
  return { get: (ns, name) => store.get(`${ns}/${name}`) };
}

describe('validateCluster with the features and providers of this process', () => {
  it('accepts a cluster and resolves its features', () => {
    const v = valid(
      etcdClusterObject({
        endpoints: ['https://10.0.0.1:2379'],
        features: { healthy: { intervalSeconds: 5 }, alarm: {} },
      }),
    );
    assert.deepEqual(Object.keys(v.features), ['alarm', 'healthy']);
    assert.equal(featureInterval(features, v, 'healthy'), 5);
    assert.equal(featureInterval(features, v, 'alarm'), features.get('alarm').defaultIntervalSeconds);
  });

  it('names an unknown feature, options a feature rejects, and a feature without support for the backend', () => {
    const v = validateCluster(
      etcdClusterObject({
        endpoints: ['http://10.0.0.1:2379'],
        storageBackend: 'v2',
        features: {
          bogus: {},
          consistency: { options: { hashRevision: 'sometimes' } },
          request: {},
          healthy: {},
        },
      }),
      features,
      providers,
    );
    assert.equal(v.ok, false);
    const text = v.ok ? '' : formatProblems(v.problems);
    assert.ok(
      text.includes(`spec.features.bogus: unknown feature "bogus" (known: ${features.names().join(', ')})`),
      text,
    );
    assert.match(
      text,
      /spec\.features\.consistency\.options: options of feature consistency: hashRevision: expected one of .*"sometimes"/,
    );
    assert.match(
      text,
      /spec\.features\.request: feature request does not support the v2 storage backend \(supported: v3\)/,
    );
    assert.deepEqual(
      v.ok ? [] : v.problems.map((p) => p.field),
      ['spec.features.bogus', 'spec.features.consistency.options', 'spec.features.request'],
      'healthy is fine',
    );
  });

  it('a disabled feature need not support the backend', () => {
    valid(
      etcdClusterObject({
        endpoints: ['http://10.0.0.1:2379'],
        storageBackend: 'v2',
        features: { request: { enabled: false } },
      }),
    );
  });
});

describe('clusterSpecFrom', () => {
  const certs = suiteCertificates('etcd-monitor-spec-');
  /** A valid EtcdCluster on one https endpoint whose TLS material and credentials come from these Secrets. */
  const securedCluster = (refs: Partial<Record<'tls' | 'auth', Record<string, string>>>) =>
    valid(etcdClusterObject({ endpoints: ['https://10.0.0.1:2379'], ...refs }));

  it('keys the cluster by namespace/name and reads TLS and credentials from the Secrets', () => {
    const cluster = securedCluster({ tls: { secretName: 'tls' }, auth: { secretName: 'pw' } });
    const built = clusterSpecFrom(
      cluster,
      secrets({
        'ops/tls': { 'ca.pem': certs.ca, 'client.pem': certs.cert, 'client-key.pem': certs.key },
        'ops/pw': { username: 'monitor', password: 'hunter2\n' },
      }),
      { healthy: features.enable('healthy', { intervalSeconds: 7 }, 'v3') },
      { timeouts: { dialTimeoutMs: 1_000, requestTimeoutMs: 2_000 }, membersIntervalSeconds: 7 },
    );
    assert.ok(built.ok);
    const spec = built.value;
    assert.equal(spec.id, 'ops/prod');
    assert.equal(spec.name, 'prod');
    assert.deepEqual(spec.labels, { namespace: 'ops' });
    assert.deepEqual(
      spec.endpoints.map((e) => e.url),
      ['https://10.0.0.1:2379'],
    );
    assert.equal(spec.discoverMembers, true);
    assert.equal(spec.membersIntervalSeconds, 7);
    assert.equal(spec.features.healthy?.intervalSeconds, 7);
    assert.equal(spec.features.healthy?.feature, features.get('healthy'));
    assert.equal(spec.client.dialTimeoutMs, 1_000);
    assert.equal(spec.client.requestTimeoutMs, 2_000);
    assert.equal(spec.client.tls?.ca, certs.ca);
    assert.equal(spec.client.tls?.key?.reveal(), certs.key);
    assert.equal(spec.client.auth?.username, 'monitor');
    assert.equal(
      spec.client.auth?.password.reveal(),
      'hunter2',
      'the trailing newline of a file-made Secret is dropped',
    );
  });

  it('a missing Secret and a Secret without the keys are both reported, never a partial spec', () => {
    const cluster = securedCluster({
      tls: { secretName: 'absent' },
      auth: { secretName: 'pw', passwordKey: 'pass' },
    });
    const built = clusterSpecFrom(cluster, secrets({ 'ops/pw': { username: 'monitor' } }), {});
    assert.equal(built.ok, false);
    assert.equal(
      built.ok ? '' : formatProblems(built.problems),
      'spec.tls: Secret ops/absent not found; spec.auth.passwordKey: Secret ops/pw has no (or an empty) key "pass"',
    );
  });

  it('a Secret in a namespace --secret-namespaces leaves out: the problem names the flag', () => {
    const cluster = securedCluster({ tls: { secretName: 'tls' }, auth: { secretName: 'pw' } });
    const source: SecretSource = {
      get: () => undefined,
      unwatched: (ns) => (ns === 'ops' ? 'only in etcd-prod (--secret-namespaces)' : undefined),
    };
    const built = clusterSpecFrom(cluster, source, {});
    assert.equal(
      built.ok ? '' : formatProblems(built.problems),
      'spec.tls: Secret ops/tls cannot be read: only in etcd-prod (--secret-namespaces); spec.auth: Secret ops/pw cannot be read: only in etcd-prod (--secret-namespaces)',
    );
  });

  it('reports PEM that does not parse', () => {
    const cluster = securedCluster({ tls: { secretName: 'tls' } });
    const built = clusterSpecFrom(cluster, secrets({ 'ops/tls': { 'ca.crt': 'not a certificate' } }), {});
    assert.equal(built.ok, false);
    assert.match(built.ok ? '' : formatProblems(built.problems), /^spec\.tls: .*ca\.crt.*Secret ops\/tls/);
  });

  it("uses a Secret of the cluster's namespace only: the same name elsewhere does not count", () => {
    const cluster = securedCluster({ auth: { secretName: 'pw' } });
    const built = clusterSpecFrom(cluster, secrets({ 'other/pw': { username: 'u', password: 'p' } }), {});
    assert.equal(built.ok, false);
  });
});

describe('SpecCache', () => {
  it('validates and builds once per cached object and Secret, and again when either is replaced', () => {
    const cache = new SpecCache(features, providers);
    const obj = deepFreeze(
      etcdClusterObject({ endpoints: ['https://10.0.0.1:2379'], auth: { secretName: 'pw' } }),
    ) as object;
    let source = secrets({ 'ops/pw': { username: 'u', password: 'one' } });
    const v = cache.validate(obj);
    assert.equal(cache.validate(obj), v, 'the same result for the same object');
    assert.ok(v.ok);
    const first = cache.build(obj, v.value, source, {});
    assert.equal(
      cache.build(obj, v.value, source, {}),
      first,
      'the same spec object: callers compare by identity',
    );
    assert.notEqual(
      cache.build(obj, v.value, source, {
        healthy: features.enable('healthy', { intervalSeconds: 5 }, 'v3'),
      }),
      first,
      'other features, another spec',
    );
    source = secrets({ 'ops/pw': { username: 'u', password: 'two' } });
    const rotated = cache.build(obj, v.value, source, {});
    assert.ok(rotated.ok);
    assert.equal(rotated.value.client.auth?.password.reveal(), 'two', 'a replaced Secret is read again');
    const edited = deepFreeze(etcdClusterObject({ endpoints: ['https://10.0.0.2:2379'] })) as object;
    assert.notEqual(cache.validate(edited), v);
  });
});
