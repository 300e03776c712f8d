/**
 * The typed clients on a real kube-apiserver: CRUD, the status subresource,
 * merge patches, optimistic concurrency, label selectors, watches, Secrets,
 * kubeconfig files ($KUBECONFIG, ~/.kube/config, exec plugins), and RBAC errors surfaced as clear KubeApiErrors.
 */
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { EtcdCluster } from '../../src/k8s/api/index.ts';
import {
  createClients,
  isConflict,
  isForbidden,
  isInvalid,
  isNotFound,
  isUnauthorized,
  KubeApiError,
  loadKubeConfig,
  type Clients,
  type RestConfig,
  type WatchEvent,
} from '../../src/k8s/client/index.ts';
import { freePort, type KubeApiserver } from '../../src/testbed/index.ts';
import { createNamespace, serviceAccount, startApiserverWithCrds } from './helpers.ts';

/** Clients made from `config`, closed once `use` has ended. */
async function withClients<T>(config: RestConfig, use: (clients: Clients) => Promise<T>): Promise<T> {
  const clients = createClients(config);
  try {
    return await use(clients);
  } finally {
    await clients.close();
  }
}

describe('typed clients on a real kube-apiserver', () => {
  let server: KubeApiserver;
  let clients: Clients;
  let ns: string;

  before(async () => {
    server = await startApiserverWithCrds();
    clients = createClients(server.adminKubeConfig());
    ns = await createNamespace(server, 'client');
  });

  /** Whether clients made from `config` reach the apiserver as admin: they list the test's EtcdClusters. */
  const listsClusters = (config: RestConfig): Promise<boolean> =>
    withClients(config, async (c) => (await c.etcdClusters.list(ns)).items.length > 0);

  after(async () => {
    await clients?.close();
    await server?.stop();
  });

  const newCluster = (name: string, labels: Record<string, string> = {}) => ({
    metadata: { name, namespace: ns, labels },
    spec: { endpoints: ['https://10.0.0.1:2379'], features: { healthy: { intervalSeconds: 10 } } },
  });

  it('creates, gets, lists by label, updates, patches and deletes', async () => {
    const created = await clients.etcdClusters.create(newCluster('crud', { team: 'db' }));
    assert.equal(created.apiVersion, 'etcdmonitor.dev/v1alpha1');
    assert.equal(created.kind, 'EtcdCluster');
    assert.equal(created.metadata.generation, 1);
    assert.equal(created.spec.storageBackend, 'v3', 'server-side default');
    assert.ok(created.metadata.uid);

    const got = await clients.etcdClusters.get(ns, 'crud');
    assert.equal(got.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.equal('managedFields' in got.metadata, false);

    await clients.etcdClusters.create(newCluster('other', { team: 'web' }));
    const db = await clients.etcdClusters.list(ns, { labelSelector: 'team=db' });
    assert.deepEqual(
      db.items.map((c) => c.metadata.name),
      ['crud'],
    );
    assert.ok(Number(db.resourceVersion) > 0);
    assert.deepEqual(db.rejected, []);
    const all = await clients.etcdClusters.list(undefined, { limit: 1 });
    assert.ok(all.items.length >= 2, 'every page is fetched');

    const updated = await clients.etcdClusters.update({
      ...got,
      spec: { ...got.spec, description: 'updated' },
    });
    assert.equal(updated.spec.description, 'updated');
    assert.equal(updated.metadata.generation, 2, 'a spec change bumps the generation');

    const patched = await clients.etcdClusters.patch(ns, 'crud', {
      metadata: { labels: { team: 'ops' } },
      spec: { description: null },
    });
    assert.equal(patched.spec.description, undefined, 'null removes a field');
    assert.equal(patched.metadata.labels?.['team'], 'ops');
    assert.equal(patched.metadata.generation, 3);

    await clients.etcdClusters.delete(ns, 'crud');
    await assert.rejects(clients.etcdClusters.get(ns, 'crud'), (err: unknown) => isNotFound(err));
    await assert.rejects(clients.etcdClusters.delete(ns, 'crud'), (err: unknown) => isNotFound(err));
  });

  it('status goes through the status subresource: it never changes spec, spec writes never change status', async () => {
    const created = await clients.etcdClusters.create(newCluster('status'));
    const withStatus = await clients.etcdClusters.updateStatus({
      ...created,
      spec: { ...created.spec, description: 'ignored by /status' },
      status: {
        phase: 'Running',
        membersReady: '3/3',
        observedGeneration: 1,
        members: [{ id: '8e9e05c52164694d', name: 'm0', healthy: true, dbSize: 20480 }],
      },
    });
    assert.equal(withStatus.status?.phase, 'Running');
    assert.equal(withStatus.status?.members?.[0]?.dbSize, 20480);
    assert.equal(withStatus.spec.description, undefined, 'spec in a status write is ignored');
    assert.equal(withStatus.metadata.generation, 1, 'a status write leaves the generation');

    const specUpdate = await clients.etcdClusters.update({
      ...withStatus,
      spec: { ...withStatus.spec, description: 'd' },
      status: { phase: 'Invalid' },
    });
    assert.equal(specUpdate.status?.phase, 'Running', 'status in a spec write is ignored');
    assert.equal(specUpdate.metadata.generation, 2);

    const patched = await clients.etcdClusters.patchStatus(ns, 'status', {
      status: { phase: 'Degraded', membersReady: '2/3' },
    });
    assert.equal(patched.status?.phase, 'Degraded');
    assert.equal(patched.status?.observedGeneration, 1, 'a merge patch keeps the other status fields');
    assert.equal(patched.spec.description, 'd');
    assert.equal(patched.metadata.generation, 2);
  });

  it('refuses a stale resourceVersion with 409 Conflict', async () => {
    const created = await clients.etcdClusters.create(newCluster('conflict'));
    await clients.etcdClusters.patch(ns, 'conflict', { spec: { description: 'first' } });
    await assert.rejects(
      clients.etcdClusters.update({ ...created, spec: { ...created.spec, description: 'second' } }),
      (err: unknown) => {
        assert.ok(isConflict(err), String(err));
        assert.match(
          (err as Error).message,
          /^update etcdclusters\.etcdmonitor\.dev .*\/conflict: 409 Conflict: /,
        );
        return true;
      },
    );
    await assert.rejects(
      clients.etcdClusters.updateStatus({ ...created, status: { phase: 'Running' } }),
      (err: unknown) => isConflict(err),
    );
    // A delete with a stale precondition is refused too.
    await assert.rejects(
      clients.etcdClusters.delete(ns, 'conflict', {
        preconditions: { resourceVersion: created.metadata.resourceVersion! },
      }),
      (err: unknown) => isConflict(err),
    );
  });

  it('surfaces admission errors with their causes', async () => {
    await assert.rejects(
      clients.etcdClusters.create({
        metadata: { name: 'bad', namespace: ns },
        spec: { endpoints: ['10.0.0.1:2379'] },
      }),
      (err: unknown) => {
        assert.ok(isInvalid(err));
        assert.ok(err instanceof KubeApiError);
        assert.equal(err.causes[0]?.field, 'spec.endpoints[0]');
        return true;
      },
    );
    const dry = await clients.etcdClusters.create(newCluster('dry-run'), { dryRun: true });
    assert.equal(dry.metadata.name, 'dry-run');
    await assert.rejects(clients.etcdClusters.get(ns, 'dry-run'), (err: unknown) => isNotFound(err));
  });

  it('watches from a resourceVersion: ADDED, MODIFIED, DELETED, then the server ends the watch', async () => {
    const start = await clients.etcdClusters.list(ns);
    const abort = new AbortController();
    const events = await clients.etcdClusters.watch(ns, {
      resourceVersion: start.resourceVersion,
      timeoutSeconds: 3,
      allowWatchBookmarks: true,
      signal: abort.signal,
    });
    await clients.etcdClusters.create(newCluster('watched'));
    await clients.etcdClusters.patchStatus(ns, 'watched', { status: { phase: 'Running' } });
    await clients.etcdClusters.delete(ns, 'watched');
    const seen: string[] = [];
    // Only a guard against a hang: the server ends the watch after 3 s.
    const guard = setTimeout(
      () => abort.abort(new Error('the server did not end the watch within 30 s')),
      30_000,
    );
    for await (const event of events as AsyncIterable<WatchEvent<EtcdCluster>>) {
      if (event.type === 'ADDED' || event.type === 'MODIFIED' || event.type === 'DELETED')
        seen.push(`${event.type} ${event.object.metadata.name} ${event.object.status?.phase ?? '-'}`);
      else if (event.type !== 'BOOKMARK') assert.fail(`unexpected ${event.type}`);
    }
    clearTimeout(guard);
    assert.deepEqual(seen, ['ADDED watched -', 'MODIFIED watched Running', 'DELETED watched Running']);
    abort.abort();
  });

  it('stops a watch when its signal aborts', async () => {
    const abort = new AbortController();
    const events = await clients.etcdClusters.watch(ns, {
      signal: abort.signal,
      resourceVersion: (await clients.etcdClusters.list(ns)).resourceVersion,
    });
    setTimeout(() => abort.abort(new Error('enough')), 200);
    await assert.rejects(
      (async () => {
        for await (const _ of events) {
          // nothing happens in the namespace
        }
      })(),
      /enough/,
    );
  });

  it('reads Secrets through the same machinery (core group)', async () => {
    await server.applyManifests(
      `apiVersion: v1\nkind: Secret\nmetadata:\n  name: etcd-tls\n  namespace: ${ns}\nstringData:\n  ca.crt: pem\n`,
    );
    const secret = await clients.secrets.get(ns, 'etcd-tls');
    assert.equal(Buffer.from(secret.data?.['ca.crt'] ?? '', 'base64').toString(), 'pem');
    const listed = await clients.secrets.list(ns);
    assert.equal(
      listed.items.find((s) => s.metadata.name === 'etcd-tls')?.kind,
      'Secret',
      'kind filled in for list items',
    );
    await assert.rejects(clients.secrets.updateStatus(secret), /has no status subresource/);
  });

  it('finds the kubeconfig as kubectl does: $KUBECONFIG (a merged list), then ~/.kube/config', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-kc-'));
    try {
      const file = join(dir, 'config');
      await server.writeKubeconfig(server.adminToken, file);
      const list = [join(dir, 'missing'), file].join(delimiter);
      assert.ok(
        await listsClusters(loadKubeConfig({}, { env: { KUBECONFIG: list }, home: join(dir, 'home') })),
      );
      await mkdir(join(dir, 'home', '.kube'), { recursive: true });
      await server.writeKubeconfig(server.adminToken, join(dir, 'home', '.kube', 'config'));
      assert.ok(await listsClusters(loadKubeConfig({}, { env: {}, home: join(dir, 'home') })));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('authenticates with an exec plugin, and runs it again after a 401', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-kc-'));
    try {
      // The plugin hands out the token in token.txt: a wrong one first, then the admin's.
      await writeFile(join(dir, 'token.txt'), 'not-a-token');
      const plugin = join(dir, 'plugin');
      await writeFile(
        plugin,
        `#!/bin/sh\nprintf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$(cat '${join(dir, 'token.txt')}')"\n`,
      );
      await chmod(plugin, 0o755);
      const file = join(dir, 'config');
      await server.writeKubeconfig('unused', file);
      await writeFile(
        file,
        (await readFile(file, 'utf8')).replace(
          /token: unused/,
          `exec: {apiVersion: client.authentication.k8s.io/v1, command: ${plugin}}`,
        ),
      );
      await withClients(loadKubeConfig({ kubeconfig: file }), async (viaExec) => {
        await assert.rejects(viaExec.etcdClusters.list(ns), (err) => isUnauthorized(err));
        await writeFile(join(dir, 'token.txt'), server.adminToken);
        assert.ok(
          (await viaExec.etcdClusters.list(ns)).items.length > 0,
          'the 401 made it run the plugin again',
        );
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('works from a kubeconfig file, with --master overriding its server', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-kc-'));
    try {
      const file = join(dir, 'config');
      await server.writeKubeconfig(server.adminToken, file);
      assert.ok(await listsClusters(loadKubeConfig({ kubeconfig: file })));
      const wrongFile = join(dir, 'wrong');
      await server.writeKubeconfig(server.adminToken, wrongFile);
      // A port nothing listens on.
      await writeFile(
        wrongFile,
        (await readFile(wrongFile, 'utf8')).replace(server.url, `https://127.0.0.1:${await freePort()}`),
      );
      await withClients(loadKubeConfig({ kubeconfig: wrongFile }), async (wrong) => {
        await assert.rejects(wrong.etcdClusters.list(ns), /ECONNREFUSED/);
      });
      assert.ok(await listsClusters(loadKubeConfig({ kubeconfig: wrongFile, master: server.url })));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a ServiceAccount without permissions gets a clear 403; a bad token a 401', async () => {
    const token = await serviceAccount(server, ns, 'nobody');
    await withClients(server.kubeConfigFor(token), async (nobody) => {
      await assert.rejects(nobody.etcdClusters.list(ns), (err: unknown) => {
        assert.ok(isForbidden(err), String(err));
        assert.equal(
          (err as Error).message,
          `list etcdclusters.etcdmonitor.dev in namespace ${ns}: 403 Forbidden: etcdclusters.etcdmonitor.dev is forbidden: User "system:serviceaccount:${ns}:nobody" cannot list resource "etcdclusters" in API group "etcdmonitor.dev" in the namespace "${ns}"`,
        );
        return true;
      });
      await assert.rejects(
        nobody.etcdClusters.patchStatus(ns, 'status', { status: { phase: 'Running' } }),
        (err: unknown) => {
          assert.ok(isForbidden(err));
          assert.match((err as Error).message, /cannot patch resource "etcdclusters\/status"/);
          return true;
        },
      );
      await assert.rejects(nobody.secrets.get(ns, 'etcd-tls'), /cannot get resource "secrets"/);
    });
    await withClients(server.kubeConfigFor('not-a-token'), async (stranger) => {
      await assert.rejects(
        stranger.etcdClusters.list(ns),
        (err: unknown) => isUnauthorized(err) && /401 Unauthorized/.test(String(err)),
      );
    });
  });
});
