import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  formatProblems,
  knownFeaturesOnly,
  validateEtcdCluster,
  validateEtcdInspection,
  type FeatureValidator,
  type Problem,
  type Validated,
} from './validate.ts';
import { etcdClusterObject } from '../../testing/etcd-cluster-object.ts';

function problems<T>(result: Validated<T>): readonly Problem[] {
  assert.equal(result.ok, false, 'expected problems');
  return result.ok ? [] : result.problems;
}

function value<T>(result: Validated<T>): T {
  if (!result.ok) assert.fail(formatProblems(result.problems));
  return result.value;
}

describe('validateEtcdCluster', () => {
  it('resolves a minimal object: defaults applied, endpoints parsed, the default features on', () => {
    const v = value(
      validateEtcdCluster(
        etcdClusterObject({ endpoints: ['https://10.0.0.1:2379', 'https://[fd00::2]:2379'] }),
      ),
    );
    assert.equal(v.namespace, 'ops');
    assert.equal(v.name, 'prod');
    assert.equal(v.generation, 3);
    assert.equal(v.clusterType, 'imported');
    assert.equal(v.storageBackend, 'v3');
    assert.deepEqual(
      v.endpoints.map((e) => e.hostPort),
      ['10.0.0.1:2379', '[fd00::2]:2379'],
    );
    assert.deepEqual(v.features, {
      alarm: { enabled: true, source: 'default' },
      certificates: { enabled: true, source: 'default' },
      healthy: { enabled: true, source: 'default' },
      performance: { enabled: true, source: 'default' },
      quota: { enabled: true, source: 'default' },
      topology: { enabled: true, source: 'default' },
    });
    assert.equal(v.tls, undefined);
    assert.equal(v.auth, undefined);
    assert.deepEqual(v.secretNames, []);
  });

  it('takes spec.features as the whole set, with intervals and options', () => {
    const v = value(
      validateEtcdCluster(
        etcdClusterObject({
          endpoints: ['http://e:2379'],
          features: {
            consistency: { intervalSeconds: 60, options: { keyPrefixes: ['/registry'] } },
            alarm: { enabled: false },
          },
        }),
      ),
    );
    assert.deepEqual(v.features, {
      alarm: { enabled: false, source: 'spec' },
      consistency: {
        enabled: true,
        intervalSeconds: 60,
        options: { keyPrefixes: ['/registry'] },
        source: 'spec',
      },
    });
  });

  it("honours kstone's featureGates annotation; a spec entry wins over the gate of the same feature", () => {
    const v = value(
      validateEtcdCluster(
        etcdClusterObject(
          { endpoints: ['http://e:2379'], features: { consistency: { enabled: false } } },
          { annotations: { featureGates: 'alarm=true,consistency=true,healthy=false,request=true' } },
        ),
      ),
    );
    assert.deepEqual(v.features, {
      alarm: { enabled: true, source: 'annotation' },
      consistency: { enabled: false, source: 'spec' },
      healthy: { enabled: false, source: 'annotation' },
      request: { enabled: true, source: 'annotation' },
    });
  });

  it('resolves TLS and auth Secrets from the spec, and lists them for watching', () => {
    const v = value(
      validateEtcdCluster(
        etcdClusterObject({
          endpoints: ['https://e:2379'],
          tls: { secretName: 'etcd-tls', caKey: 'ca.pem' },
          auth: { secretName: 'etcd-auth', passwordKey: 'pw' },
        }),
      ),
    );
    assert.deepEqual(v.tls, {
      secretNamespace: 'ops',
      secretName: 'etcd-tls',
      caKey: 'ca.pem',
      field: 'spec.tls',
    });
    assert.deepEqual(v.auth, {
      secretNamespace: 'ops',
      secretName: 'etcd-auth',
      usernameKey: 'username',
      passwordKey: 'pw',
      field: 'spec.auth',
    });
    assert.deepEqual(v.secretNames, ['etcd-auth', 'etcd-tls']);
  });

  it("honours kstone's certName annotation in the same namespace; spec.tls wins over it", () => {
    const fromAnnotation = value(
      validateEtcdCluster(
        etcdClusterObject(
          { endpoints: ['https://e:2379'] },
          { annotations: { certName: 'ops/kstone-certs' } },
        ),
      ),
    );
    assert.deepEqual(fromAnnotation.tls, {
      secretNamespace: 'ops',
      secretName: 'kstone-certs',
      field: 'metadata.annotations.certName',
    });
    const bare = value(
      validateEtcdCluster(
        etcdClusterObject({ endpoints: ['https://e:2379'] }, { annotations: { certName: 'kstone-certs' } }),
      ),
    );
    assert.equal(bare.tls?.secretNamespace, 'ops');
    const spec = value(
      validateEtcdCluster(
        etcdClusterObject(
          { endpoints: ['https://e:2379'], tls: { secretName: 'mine' } },
          { annotations: { certName: 'kstone-certs' } },
        ),
      ),
    );
    assert.equal(spec.tls?.secretName, 'mine');
  });

  it('refuses a certName in another namespace unless allowed', () => {
    const obj = etcdClusterObject(
      { endpoints: ['https://e:2379'] },
      { annotations: { certName: 'kube-system/etcd-certs' } },
    );
    const [p] = problems(validateEtcdCluster(obj));
    assert.equal(p?.field, 'metadata.annotations.certName');
    assert.match(p?.message ?? '', /Secret kube-system\/etcd-certs is in another namespace/);
    const allowed = value(validateEtcdCluster(obj, { allowCrossNamespaceSecrets: true }));
    assert.deepEqual(allowed.tls, {
      secretNamespace: 'kube-system',
      secretName: 'etcd-certs',
      field: 'metadata.annotations.certName',
    });
    // Not in this namespace: not among the Secrets to watch here.
    assert.deepEqual(allowed.secretNames, []);
  });

  it('names each bad endpoint by index, with the reason', () => {
    const found = problems(
      validateEtcdCluster(
        etcdClusterObject({
          endpoints: ['10.0.0.1:2379', 'https://e', 'https://e:2379/x', 'http://ok:2379', 'http://ok:2379'],
        }),
      ),
    );
    assert.deepEqual(
      found.map((p) => p.field),
      ['spec.endpoints[0]', 'spec.endpoints[1]', 'spec.endpoints[2]', 'spec.endpoints[4]'],
    );
    assert.match(found[0]!.message, /has no scheme/);
    assert.match(found[1]!.message, /has no port/);
    assert.match(found[2]!.message, /path or query/);
    assert.match(found[3]!.message, /listed twice/);
  });

  it('reports unknown features from the spec and from enabled gates, and bad gate syntax', () => {
    const found = problems(
      validateEtcdCluster(
        etcdClusterObject(
          { endpoints: ['http://e:2379'], features: { healty: {} } },
          { annotations: { featureGates: 'backup=true,defrag=false,alarm' } },
        ),
      ),
    );
    assert.deepEqual(found, [
      { field: 'metadata.annotations.featureGates', message: 'entry "alarm" is not name=true or name=false' },
      {
        field: 'metadata.annotations.featureGates',
        message:
          'unknown feature "backup" (known: healthy, alarm, consistency, request, quota, topology, certificates, performance, latency)',
      },
      {
        field: 'spec.features.healty',
        message:
          'unknown feature "healty" (known: healthy, alarm, consistency, request, quota, topology, certificates, performance, latency)',
      },
    ]);
  });

  it('asks the feature validator to check every feature of the spec, enabled or not, for its backend', () => {
    const seen: string[] = [];
    const known = knownFeaturesOnly();
    const features: FeatureValidator = {
      ...known,
      check: (feature, request, backend) => {
        seen.push(`${feature} ${backend}`);
        return request.options?.['bad'] === true
          ? { ok: false, problems: [{ field: 'options', message: 'unknown field bad' }] }
          : known.check(feature, request, backend);
      },
    };
    const obj = etcdClusterObject({
      endpoints: ['http://e:2379'],
      features: {
        healthy: { options: { bad: true } },
        alarm: { enabled: false, options: { bad: true } },
        request: {},
      },
    });
    assert.deepEqual(problems(validateEtcdCluster(obj, { features })), [
      { field: 'spec.features.healthy.options', message: 'unknown field bad' },
      { field: 'spec.features.alarm.options', message: 'unknown field bad' },
    ]);
    assert.deepEqual(seen.sort(), ['alarm v3', 'healthy v3', 'request v3']);
  });

  it('knows only the cluster types it is told of', () => {
    const [p] = problems(
      validateEtcdCluster(etcdClusterObject({ endpoints: ['http://e:2379'] }), {
        clusterTypes: ['provisioned'],
      }),
    );
    assert.deepEqual(p, {
      field: 'spec.clusterType',
      message: 'cluster type "imported" has no provider (known: provisioned)',
    });
  });

  it('reports schema problems with field paths instead of throwing', () => {
    const found = problems(
      validateEtcdCluster(
        etcdClusterObject({
          endpoints: 'http://e:2379',
          storageBackend: 'v4',
          features: { healthy: { intervalSeconds: 0 } },
        }),
      ),
    );
    assert.deepEqual(found.map((p) => p.field).sort(), [
      'spec.endpoints',
      'spec.features.healthy.intervalSeconds',
      'spec.storageBackend',
    ]);
    assert.equal(
      found.find((p) => p.field === 'spec.storageBackend')?.message,
      'unsupported value "v4": supported values: "v3", "v2"',
    );
    assert.match(
      found.find((p) => p.field === 'spec.features.healthy.intervalSeconds')?.message ?? '',
      /expected integer to be greater or equal to 1/,
    );
    assert.deepEqual(
      problems(validateEtcdCluster(null)).map((p) => p.field),
      ['(root)'],
    );
    const noSpec = problems(
      validateEtcdCluster({
        apiVersion: 'etcdmonitor.dev/v1alpha1',
        kind: 'EtcdCluster',
        metadata: { name: 'x', namespace: 'ops' },
      }),
    );
    assert.deepEqual(noSpec, [{ field: 'spec', message: 'required field is missing' }]);
  });

  it('needs a namespace', () => {
    const [p] = problems(
      validateEtcdCluster(etcdClusterObject({ endpoints: ['http://e:2379'] }, { namespace: undefined })),
    );
    assert.equal(p?.field, 'metadata.namespace');
  });

  it('never changes its input', () => {
    const obj = Object.freeze(etcdClusterObject({ endpoints: ['http://e:2379'] }) as object);
    const before = JSON.stringify(obj);
    value(validateEtcdCluster(obj));
    assert.equal(JSON.stringify(obj), before);
  });
});

describe('validateEtcdInspection', () => {
  const inspection = (spec: Record<string, unknown>): unknown => ({
    apiVersion: 'etcdmonitor.dev/v1alpha1',
    kind: 'EtcdInspection',
    metadata: { name: 'prod-healthy', namespace: 'ops' },
    spec,
  });

  it('resolves cluster, feature, provider (default) and interval', () => {
    assert.deepEqual(
      value(
        validateEtcdInspection(
          inspection({ clusterName: 'prod', inspectionType: 'healthy', intervalInSecond: 30 }),
        ),
      ),
      {
        namespace: 'ops',
        name: 'prod-healthy',
        clusterName: 'prod',
        inspectionType: 'healthy',
        inspectionProvider: 'etcd-monitor',
        intervalSeconds: 30,
      },
    );
  });

  it('rejects unknown features and providers, and a zero interval', () => {
    assert.deepEqual(
      problems(
        validateEtcdInspection(
          inspection({ clusterName: 'prod', inspectionType: 'backup', inspectionProvider: 'cron' }),
        ),
      ),
      [
        {
          field: 'spec.inspectionType',
          message:
            'unknown feature "backup" (known: healthy, alarm, consistency, request, quota, topology, certificates, performance, latency)',
        },
        { field: 'spec.inspectionProvider', message: 'unknown provider "cron" (known: etcd-monitor)' },
      ],
    );
    assert.deepEqual(
      problems(
        validateEtcdInspection(
          inspection({ clusterName: 'prod', inspectionType: 'healthy', intervalInSecond: 0 }),
        ),
      ).map((p) => p.field),
      ['spec.intervalInSecond'],
    );
  });
});
