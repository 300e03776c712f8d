import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { convertKstoneCluster, kstoneObjects, type ConvertOptions } from './kstone.ts';

const FIXTURE = new URL('../../test/migrate/fixtures/kstone-etcdclusters.yaml', import.meta.url);
const docs = parseAllDocuments(readFileSync(FIXTURE, 'utf8')).map((d) => d.toJS() as unknown);
const { objects, secrets } = kstoneObjects(docs, 'default');
const byName = (name: string): unknown =>
  objects.find((o) => (o as { metadata: { name: string } }).metadata.name === name);

const OPTS: ConvertOptions = {
  defaultNamespace: 'default',
  knownFeatures: ['alarm', 'consistency', 'healthy', 'request', 'quota'],
  secretKeys: (ns, name) => secrets.get(`${ns}/${name}`),
};

describe('kstone EtcdCluster → etcdmonitor.dev EtcdCluster', () => {
  it('an imported cluster: importedAddr, certName and featureGates become spec fields; the password Secret becomes spec.auth', () => {
    const r = convertKstoneCluster(byName('k8s-prod-etcd'), OPTS);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.cluster, {
      apiVersion: 'etcdmonitor.dev/v1alpha1',
      kind: 'EtcdCluster',
      metadata: {
        name: 'k8s-prod-etcd',
        namespace: 'kstone',
        labels: { team: 'platform' },
        annotations: {
          owner: 'sre-oncall',
          'etcdmonitor.dev/migrated-from': 'kstone.tkestack.io/v1alpha2 kstone/k8s-prod-etcd',
        },
      },
      spec: {
        clusterType: 'imported',
        endpoints: ['https://10.0.1.10:2379'],
        description: 'etcd of the production Kubernetes cluster',
        tls: { secretName: 'k8s-prod-etcd-certs' },
        auth: { secretName: 'k8s-prod-etcd-certs' },
        features: { consistency: {}, healthy: {}, request: {}, alarm: {} },
      },
    });
    assert.deepEqual(r.warnings, [
      'metadata.annotations.featureGates: backup (backups) has no equivalent in etcd-monitor; dropped',
      "metadata.annotations.featureGates: monitor (kstone's Prometheus wiring of the etcd cluster's own metrics) has no equivalent in etcd-monitor; dropped",
    ]);
  });

  it('without the Secret readable, spec.auth is left out and the note says what to check', () => {
    const r = convertKstoneCluster(byName('k8s-prod-etcd'), { ...OPTS, secretKeys: () => undefined });
    assert.ok(r.ok);
    assert.equal(r.cluster.spec.auth, undefined);
    assert.ok(
      r.warnings.some((w) =>
        /Secret kstone\/k8s-prod-etcd-certs could not be read; if it holds username and password, add auth/.test(
          w,
        ),
      ),
    );
  });

  it('a kstone-etcd-operator cluster: endpoints from status.members, TLS from spec.authConfig.tlsSecret', () => {
    const r = convertKstoneCluster(byName('gz-etcd-03'), OPTS);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.cluster.spec, {
      clusterType: 'imported',
      endpoints: [
        'https://gz-etcd-03-etcd-0.gz-etcd-03-etcd-headless.kstone.svc.cluster.local:2379',
        'https://gz-etcd-03-etcd-1.gz-etcd-03-etcd-headless.kstone.svc.cluster.local:2379',
      ],
      description: 'created by kstone-etcd-operator',
      tls: { secretName: 'gz-etcd-03-client-certs' },
      features: { healthy: {}, alarm: {} },
    });
    assert.match(r.warnings.join('\n'), /kstone-etcd-operator keeps running it/);
    assert.match(
      r.warnings.join('\n'),
      /spec\.size, spec\.diskType, spec\.diskSize, spec\.version, spec\.repository, spec\.resources: provisioning fields, not migrated/,
    );
    assert.match(r.warnings.join('\n'), /backupcheck \(backup checks\) has no equivalent/);
  });

  it('a v2 cluster without TLS: http:// added to an address without a scheme, false gates kept as disabled', () => {
    const r = convertKstoneCluster(byName('legacy-v2'), OPTS);
    assert.ok(r.ok, JSON.stringify(r));
    assert.deepEqual(r.cluster.spec, {
      clusterType: 'imported',
      endpoints: ['http://10.0.2.5:2379'],
      storageBackend: 'v2',
      features: { healthy: {}, consistency: { enabled: false } },
    });
    assert.deepEqual(r.warnings, [
      'metadata.annotations.importedAddr[0]: "10.0.2.5:2379" has no scheme; using http:// (the cluster has no TLS)',
    ]);
  });

  it('--target-namespace moves the objects; a certName Secret then elsewhere is an error that says what to do', () => {
    const moved = convertKstoneCluster(byName('legacy-v2'), { ...OPTS, targetNamespace: 'etcd' });
    assert.ok(moved.ok);
    assert.equal(moved.cluster.metadata.namespace, 'etcd');
    const r = convertKstoneCluster(byName('k8s-prod-etcd'), { ...OPTS, targetNamespace: 'etcd' });
    assert.deepEqual(r, {
      ok: false,
      problems: [
        "metadata.annotations.certName: the Secret kstone/k8s-prod-etcd-certs is in namespace kstone, but spec.tls can only name a Secret in the EtcdCluster's namespace (etcd): copy the Secret to etcd, or convert with --target-namespace kstone",
      ],
    });
  });

  it('objects that cannot be converted are refused with the field and the reason', () => {
    const cases: [unknown, RegExp][] = [
      [
        byName('cross-ns'),
        /^metadata\.annotations\.certName: the Secret default\/etcd-certs is in namespace default/,
      ],
      [
        byName('no-endpoint'),
        /^no endpoint: neither the importedAddr annotation nor status\.members nor status\.serviceName/,
      ],
      [
        byName('bad-gates'),
        /^metadata\.annotations\.featureGates: entry "healthy=yes" is not name=true or name=false$/,
      ],
      [
        { apiVersion: 'kstone.tkestack.io/v1alpha1', kind: 'EtcdCluster', metadata: { name: 'old' } },
        /v1alpha1: upgrade the objects to v1alpha2 with kstone's own migration first/,
      ],
      [
        {
          apiVersion: 'kstone.tkestack.io/v1alpha2',
          kind: 'EtcdCluster',
          metadata: { name: 'x', annotations: { importedAddr: 'https://10.0.0.1:2379' } },
          spec: { clusterType: 'tke' },
        },
        /^spec\.clusterType "tke" cannot be converted/,
      ],
      [
        {
          apiVersion: 'kstone.tkestack.io/v1alpha2',
          kind: 'EtcdCluster',
          metadata: {
            name: 'x',
            annotations: { importedAddr: 'https://10.0.0.1:2379', featureGates: 'quota=true,nope=true' },
          },
        },
        /^metadata\.annotations\.featureGates: unknown feature "nope" \(known: alarm, consistency, healthy, request, quota\)$/,
      ],
      [
        {
          apiVersion: 'kstone.tkestack.io/v1alpha2',
          kind: 'EtcdCluster',
          metadata: { name: 'x', annotations: { importedAddr: 'ftp://10.0.0.1/x' } },
        },
        /importedAddr\[0\]: "ftp:\/\/10\.0\.0\.1\/x" is not an etcd client URL/,
      ],
      [
        { apiVersion: 'kstone.tkestack.io/v1alpha2', kind: 'EtcdCluster', metadata: {} },
        /metadata\/name|metadata\.name/,
      ],
    ];
    for (const [input, message] of cases) {
      const r = convertKstoneCluster(input, OPTS);
      assert.equal(r.ok, false, JSON.stringify(input));
      if (!r.ok) assert.match(r.problems.join('\n'), message);
    }
  });

  it('reads Lists and documents, keeps Secrets for key lookup, and names what it skips', () => {
    const r = kstoneObjects(
      [
        {
          apiVersion: 'v1',
          kind: 'List',
          items: [
            { apiVersion: 'kstone.tkestack.io/v1alpha2', kind: 'EtcdCluster', metadata: { name: 'a' } },
          ],
        },
        {
          apiVersion: 'kstone.tkestack.io/v1alpha2',
          kind: 'EtcdInspection',
          metadata: { name: 'a-healthy' },
        },
        { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, stringData: { password: 'x' } },
        null,
      ],
      'ns1',
    );
    assert.equal(r.objects.length, 1);
    assert.deepEqual([...r.secrets], [['ns1/s', ['password']]]);
    assert.deepEqual(r.skipped, ['kstone.tkestack.io/v1alpha2 EtcdInspection a-healthy']);
  });
});
