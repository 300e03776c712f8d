/**
 * `etcd-monitor migrate kstone` as users run it: on files (and stdin) of
 * realistic kstone objects, and against a real kube-apiserver serving
 * kstone's EtcdCluster kind (a minimal CRD written for the test) with the
 * objects and their certName Secret in it. The output is applied to the same
 * apiserver with etcd-monitor's CRDs, whose schema and CEL rules accept it;
 * objects that cannot be converted are named on stderr, exit code 1.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { createClients, type Clients } from '../../src/k8s/client/index.ts';
import { startKubeApiserver, type KubeApiserver } from '../../src/testbed/index.ts';
import { cli, cliWithInput } from '../support/cli.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');
const OBJECTS = join(FIXTURES, 'kstone-etcdclusters.yaml');
const CRDS = resolve(import.meta.dirname, '..', '..', 'deploy', 'crds');

interface Converted {
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
}
const parsed = (yaml: string): Converted[] =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as Converted | null)
    .filter((o): o is Converted => o !== null);

describe('etcd-monitor migrate kstone on files', () => {
  it('converts what it can, names what it cannot with the reason, exit 1', async () => {
    const r = await cli(['migrate', 'kstone', OBJECTS]);
    assert.equal(r.code, 1, r.stderr);
    assert.deepEqual(
      parsed(r.stdout).map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
      ['kstone/k8s-prod-etcd', 'kstone/gz-etcd-03', 'kstone/legacy-v2'],
    );
    // The Secret in the same file holds a password: spec.auth.
    assert.deepEqual(parsed(r.stdout)[0]!.spec['auth'], { secretName: 'k8s-prod-etcd-certs' });
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error: '));
    assert.deepEqual(
      errors.map((l) => l.split(':')[1]!.trim()),
      ['EtcdCluster kstone/cross-ns', 'EtcdCluster kstone/no-endpoint', 'EtcdCluster kstone/bad-gates'],
    );
    assert.match(r.stderr, /converted 3 EtcdCluster\(s\); 3 could not be converted/);
  });

  it('reads stdin (-) and writes a JSON List with -o json', async () => {
    const text = await readFile(OBJECTS, 'utf8');
    const legacy = text.split('\n---\n').find((d) => d.includes('name: legacy-v2'))!;
    const r = await cliWithInput(
      ['migrate', 'kstone', '-', '-o', 'json', '--target-namespace', 'etcd'],
      legacy,
    );
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { kind: string; items: Converted[] };
    assert.equal(list.kind, 'List');
    assert.deepEqual(
      list.items.map((o) => [o.metadata.namespace, o.metadata.name, o.spec['endpoints']]),
      [['etcd', 'legacy-v2', ['http://10.0.2.5:2379']]],
    );
    assert.match(r.stderr, /has no scheme; using http:\/\//);
  });

  it('usage errors exit 2 before reading anything', async () => {
    for (const [args, message] of [
      [['migrate', 'kstone'], /nothing to convert: give files/],
      [['migrate', 'kstone', OBJECTS, '--kubeconfig', '/nonexistent'], /files or --kubeconfig, not both/],
      [['migrate', 'kstone', '/nonexistent.yaml'], /\/nonexistent\.yaml: cannot read/],
      [
        ['migrate', 'kstone', OBJECTS, '--target-namespace', 'Bad_NS'],
        /--target-namespace: "Bad_NS" is not a namespace name/,
      ],
    ] as const) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
  });
});

describe('etcd-monitor migrate kstone --kubeconfig on a real kube-apiserver', () => {
  let server: KubeApiserver;
  let admin: Clients;
  const dir = suiteTempDir('etcd-monitor-migrate-');
  before(async () => {
    server = await startKubeApiserver();
    admin = createClients(server.adminKubeConfig());
    await server.applyManifests('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: kstone\n');
    await server.applyManifests([join(FIXTURES, 'kstone-crd.yaml'), CRDS]);
    await server.applyManifests(OBJECTS);
  });
  after(async () => {
    await admin?.close();
    await server?.stop();
  });

  it('reads kstone objects and Secrets from the cluster; the output is accepted by the apiserver', async () => {
    const kubeconfig = join(dir, 'admin.kubeconfig');
    await server.writeKubeconfig(server.adminToken, kubeconfig);
    const r = await cli(['migrate', 'kstone', '--kubeconfig', kubeconfig, '--namespace', 'kstone']);
    assert.equal(r.code, 1, r.stderr);
    const converted = parsed(r.stdout);
    assert.deepEqual(converted.map((o) => o.metadata.name).sort(), [
      'gz-etcd-03',
      'k8s-prod-etcd',
      'legacy-v2',
    ]);
    // The certName Secret was read from the cluster: it holds a password.
    assert.deepEqual(converted.find((o) => o.metadata.name === 'k8s-prod-etcd')!.spec['auth'], {
      secretName: 'k8s-prod-etcd-certs',
    });
    // The kstone-etcd-operator cluster's endpoints came from its stored status.
    assert.equal(
      (converted.find((o) => o.metadata.name === 'gz-etcd-03')!.spec['endpoints'] as string[]).length,
      2,
    );
    assert.match(r.stderr, /error: EtcdCluster kstone\/no-endpoint: cannot convert: no endpoint/);

    await server.applyManifests(r.stdout);
    const stored = (await admin.etcdClusters.list('kstone')).items;
    assert.deepEqual(stored.map((c) => c.metadata.name).sort(), ['gz-etcd-03', 'k8s-prod-etcd', 'legacy-v2']);
    const prod = stored.find((c) => c.metadata.name === 'k8s-prod-etcd')!;
    assert.deepEqual(prod.spec.tls, { secretName: 'k8s-prod-etcd-certs' });
    assert.deepEqual(Object.keys(prod.spec.features ?? {}).sort(), [
      'alarm',
      'consistency',
      'healthy',
      'request',
    ]);
  });

  it('says so when the cluster serves no kstone EtcdClusters', async () => {
    const kubeconfig = join(dir, 'admin.kubeconfig');
    await server.writeKubeconfig(server.adminToken, kubeconfig);
    await server.request(
      'DELETE',
      '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/etcdclusters.kstone.tkestack.io',
    );
    const r = await cli(['migrate', 'kstone', '--kubeconfig', kubeconfig]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /serves no kstone\.tkestack\.io\/v1alpha2 EtcdClusters \(is kstone's CRD installed\?\)/,
    );
  });
});
