/**
 * The CRDs under deploy/crds/: up to date with src/k8s/api/, accepted by a
 * real kube-apiserver (structural schema, CEL rules compile within their cost
 * budget), served with the printer columns, short names and categories, and
 * rejecting invalid objects at admission.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { CRD_DEFINITIONS, crdFileName, crdYaml } from '../../src/k8s/api/crd.ts';
import { formatProblems, validateEtcdCluster } from '../../src/k8s/api/validate.ts';
import type { KubeApiserver } from '../../src/testbed/index.ts';
import { createNamespace, CRD_DIR, startApiserverWithCrds } from './helpers.ts';

describe('checked-in CRDs', () => {
  it('are what the schemas generate (run `npm run gen:crds` after changing src/k8s/api/)', async () => {
    for (const def of CRD_DEFINITIONS) {
      const file = join(CRD_DIR, crdFileName(def));
      const have = await readFile(file, 'utf8').catch(() => '(missing)');
      assert.equal(have, crdYaml(def), `${file} is out of date: run \`npm run gen:crds\``);
    }
  });
});

interface ApiStatus {
  code?: number;
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string; message?: string }[] };
}

describe('CRDs on a real kube-apiserver', () => {
  let server: KubeApiserver;
  let ns: string;
  const clusters = (): string => `/apis/etcdmonitor.dev/v1alpha1/namespaces/${ns}/etcdclusters`;
  const inspections = (): string => `/apis/etcdmonitor.dev/v1alpha1/namespaces/${ns}/etcdinspections`;
  const cluster = (name: string, spec: Record<string, unknown>) => ({
    apiVersion: 'etcdmonitor.dev/v1alpha1',
    kind: 'EtcdCluster',
    metadata: { name },
    spec,
  });
  /** Creates an EtcdCluster in the test namespace; the apiserver must accept it (201). Returns what it stored. */
  const createCluster = async (name: string, spec: Record<string, unknown>) => {
    const res = await server.request('POST', clusters(), cluster(name, spec));
    assert.equal(res.status, 201, JSON.stringify(res.body));
    return res.body as { spec: Record<string, unknown> };
  };

  before(async () => {
    // Applying the files proves them accepted: v1 refuses non-structural schemas and CEL that does not compile.
    server = await startApiserverWithCrds();
    ns = await createNamespace(server, 'crds');
  });

  after(async () => {
    await server?.stop();
  });

  it('are Established, with no NonStructuralSchema condition', async () => {
    for (const def of CRD_DEFINITIONS) {
      const res = await server.request(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${def.plural}.etcdmonitor.dev`,
      );
      assert.equal(res.status, 200);
      const conditions = (res.body as { status: { conditions: { type: string; status: string }[] } }).status
        .conditions;
      assert.ok(conditions.some((c) => c.type === 'Established' && c.status === 'True'));
      assert.ok(!conditions.some((c) => c.type === 'NonStructuralSchema'));
    }
  });

  it('are served with short names and categories', async () => {
    const res = await server.request('GET', '/apis/etcdmonitor.dev/v1alpha1');
    const resources = (
      res.body as {
        resources: { name: string; shortNames?: string[]; categories?: string[]; namespaced: boolean }[];
      }
    ).resources;
    const byName = new Map(resources.map((r) => [r.name, r]));
    assert.deepEqual(byName.get('etcdclusters')?.shortNames, ['etcdc']);
    assert.deepEqual(byName.get('etcdinspections')?.shortNames, ['etcdi']);
    assert.deepEqual(byName.get('etcdclusters')?.categories, ['etcd-monitor', 'etcd']);
    assert.equal(byName.get('etcdclusters')?.namespaced, true);
    assert.ok(
      byName.has('etcdclusters/status') && byName.has('etcdinspections/status'),
      'status subresources',
    );
  });

  it('apply defaults: clusterType imported, storageBackend v3, features enabled, inspectionProvider etcd-monitor', async () => {
    const { spec } = await createCluster('defaults', {
      endpoints: ['https://10.0.0.1:2379'],
      features: { healthy: {} },
    });
    assert.deepEqual(spec, {
      clusterType: 'imported',
      endpoints: ['https://10.0.0.1:2379'],
      features: { healthy: { enabled: true } },
      storageBackend: 'v3',
    });
    const insp = await server.request('POST', inspections(), {
      apiVersion: 'etcdmonitor.dev/v1alpha1',
      kind: 'EtcdInspection',
      metadata: { name: 'defaults-healthy' },
      spec: { clusterName: 'defaults', inspectionType: 'healthy' },
    });
    assert.equal(insp.status, 201, JSON.stringify(insp.body));
    assert.equal(
      (insp.body as { spec: { inspectionProvider: string } }).spec.inspectionProvider,
      'etcd-monitor',
    );
  });

  it('prune unknown fields instead of storing them', async () => {
    const res = await server.request(
      'POST',
      clusters(),
      cluster('pruned', {
        endpoints: ['http://e:2379'],
        replicas: 3,
        tls: { secretName: 's', insecure: true },
      }),
    );
    assert.equal(res.status, 201, JSON.stringify(res.body));
    const spec = (res.body as { spec: Record<string, unknown> }).spec;
    assert.equal('replicas' in spec, false);
    assert.deepEqual(spec['tls'], { secretName: 's' });
  });

  /** Posts an invalid object and returns the Status; asserts 422 and that `field` is named. */
  async function rejected(path: string, body: unknown, field: string, message: RegExp): Promise<void> {
    const res = await server.request('POST', path, body);
    const status = res.body as ApiStatus;
    assert.equal(res.status, 422, `expected a rejection, got ${res.status}: ${JSON.stringify(res.body)}`);
    const causes = status.details?.causes ?? [];
    const cause = causes.find((c) => c.field === field);
    assert.ok(cause !== undefined, `no cause for ${field} in ${JSON.stringify(causes)}`);
    assert.match(cause.message ?? '', message);
  }

  it('reject endpoints without a scheme or a port (CEL)', async () => {
    await rejected(
      clusters(),
      cluster('no-scheme', { endpoints: ['10.0.0.1:2379'] }),
      'spec.endpoints[0]',
      /needs a scheme \(http:\/\/ or https:\/\/\) and a port/,
    );
    await rejected(
      clusters(),
      cluster('no-port', { endpoints: ['https://ok:2379', 'https://10.0.0.1'] }),
      'spec.endpoints[1]',
      /needs a scheme .* and a port/,
    );
    await rejected(
      clusters(),
      cluster('path', { endpoints: ['https://10.0.0.1:2379/v3'] }),
      'spec.endpoints[0]',
      /nothing after the port/,
    );
    await createCluster('ipv6', { endpoints: ['https://[fd00::1]:2379'] });
  });

  it('reject an empty endpoint list, a zero interval, unknown enum values and bad feature names', async () => {
    await rejected(clusters(), cluster('empty', { endpoints: [] }), 'spec.endpoints', /at least 1 items/);
    await rejected(
      clusters(),
      cluster('zero', { endpoints: ['http://e:2379'], features: { healthy: { intervalSeconds: 0 } } }),
      'spec.features.healthy.intervalSeconds',
      /greater than or equal to 1/,
    );
    await rejected(
      clusters(),
      cluster('type', { endpoints: ['http://e:2379'], clusterType: 'provisioned' }),
      'spec.clusterType',
      /supported values: "imported"/,
    );
    await rejected(
      clusters(),
      cluster('backend', { endpoints: ['http://e:2379'], storageBackend: 'v4' }),
      'spec.storageBackend',
      /supported values: "v3", "v2"/,
    );
    await rejected(
      clusters(),
      cluster('feature', { endpoints: ['http://e:2379'], features: { Healthy: {} } }),
      'spec.features',
      /feature names are lower-case words/,
    );
    await rejected(
      clusters(),
      cluster('secret', { endpoints: ['http://e:2379'], tls: { secretName: 'Bad_Name' } }),
      'spec.tls.secretName',
      /should match/,
    );
    await rejected(
      clusters(),
      cluster('spec', undefined as unknown as Record<string, unknown>),
      'spec',
      /Required value/,
    );
  });

  it('reject a status that breaks its schema (status subresource validates too)', async () => {
    const body = await createCluster('bad-status', { endpoints: ['http://e:2379'] });
    const bad = await server.request('PUT', `${clusters()}/bad-status/status`, {
      ...body,
      status: { phase: 'Exploded', members: [{ id: 'XYZ', healthy: true }] },
    });
    assert.equal(bad.status, 422, JSON.stringify(bad.body));
    // (Plus a "<nil>" cause: CEL rules are skipped on an object that fails the schema.)
    const fields = ((bad.body as ApiStatus).details?.causes ?? [])
      .map((c) => c.field ?? '')
      .filter((f) => f.startsWith('status.'))
      .sort();
    assert.deepEqual(fields, ['status.members[0].id', 'status.phase']);
  });

  it('make clusterName and inspectionType of an EtcdInspection immutable (CEL transition rules)', async () => {
    const path = inspections();
    const created = await server.request('POST', path, {
      apiVersion: 'etcdmonitor.dev/v1alpha1',
      kind: 'EtcdInspection',
      metadata: { name: 'immutable' },
      spec: { clusterName: 'a', inspectionType: 'alarm', intervalInSecond: 30 },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const body = created.body as { spec: Record<string, unknown> };
    const changed = await server.request('PUT', `${path}/immutable`, {
      ...body,
      spec: { ...body.spec, clusterName: 'b', inspectionType: 'healthy' },
    });
    assert.equal(changed.status, 422, JSON.stringify(changed.body));
    const messages = ((changed.body as ApiStatus).details?.causes ?? [])
      .map((c) => `${c.field}: ${c.message}`)
      .sort();
    assert.equal(messages.length, 2);
    assert.match(messages[0]!, /spec\.clusterName: .*clusterName is immutable/);
    assert.match(messages[1]!, /spec\.inspectionType: .*inspectionType is immutable/);
    const interval = await server.request('PUT', `${path}/immutable`, {
      ...body,
      spec: { ...body.spec, intervalInSecond: 60 },
    });
    assert.equal(interval.status, 200, 'the interval may change');
  });

  it('accept the samples under deploy/samples, which also pass validateEtcdCluster', async () => {
    const samples = join(CRD_DIR, '..', 'samples');
    const files = (await readdir(samples)).filter((f) => f.endsWith('.yaml')).sort();
    assert.ok(files.length > 0);
    let clustersChecked = 0;
    for (const file of files) {
      await server.applyManifests(join(samples, file));
      const docs = parseAllDocuments(await readFile(join(samples, file), 'utf8')).map(
        (d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } },
      );
      for (const doc of docs.filter((d) => d.kind === 'EtcdCluster')) {
        const stored = await server.request(
          'GET',
          `/apis/etcdmonitor.dev/v1alpha1/namespaces/${doc.metadata.namespace ?? 'default'}/etcdclusters/${doc.metadata.name}`,
        );
        assert.equal(stored.status, 200);
        const result = validateEtcdCluster(stored.body);
        assert.ok(result.ok, `${file}: ${result.ok ? '' : formatProblems(result.problems)}`);
        clustersChecked++;
      }
    }
    assert.ok(clustersChecked >= files.length, 'every sample file holds an EtcdCluster');
  });

  it('print phase, members ready/total, leader, version and age', async () => {
    const body = await createCluster('printed', { endpoints: ['http://e:2379'] });
    const status = await server.request('PUT', `${clusters()}/printed/status`, {
      ...body,
      status: {
        phase: 'Degraded',
        membersReady: '2/3',
        leader: 'etcd-0',
        version: '3.6.16',
        members: [{ id: '8e9e05c52164694d', name: 'etcd-0', healthy: true }],
      },
    });
    assert.equal(status.status, 200, JSON.stringify(status.body));
    const table = await fetchTable(server, `${clusters()}/printed`);
    assert.deepEqual(table.columns.slice(0, 6), ['Name', 'Phase', 'Members', 'Leader', 'Version', 'Age']);
    assert.deepEqual(table.rows[0]?.slice(0, 5), ['printed', 'Degraded', '2/3', 'etcd-0', '3.6.16']);
  });
});

/** GET as a server-side Table (what kubectl get prints). */
async function fetchTable(
  server: KubeApiserver,
  path: string,
): Promise<{ columns: string[]; rows: unknown[][] }> {
  const res = await server.request('GET', path, undefined, {
    accept: 'application/json;as=Table;v=v1;g=meta.k8s.io',
  });
  assert.equal(res.status, 200, JSON.stringify(res.body));
  const table = res.body as { columnDefinitions: { name: string }[]; rows: { cells: unknown[] }[] };
  return { columns: table.columnDefinitions.map((c) => c.name), rows: table.rows.map((r) => r.cells) };
}
