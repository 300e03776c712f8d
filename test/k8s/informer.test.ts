/**
 * Informers on a real kube-apiserver: list and watch, label selectors,
 * listers, resync, a relist after 410 Gone (the resourceVersion compacted
 * away in etcd), an apiserver restart, a silent watch (the apiserver
 * SIGSTOPped), RBAC refusals retried with backoff, and a stop() that leaves
 * nothing behind. etcdinspections run without the apiserver's watch cache
 * (--watch-cache-sizes=...#0) so that their watches go to etcd, where a
 * compaction makes an old resourceVersion expire.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { EtcdInspection } from '../../src/k8s/api/index.ts';
import {
  createClients,
  createInformer,
  Informer,
  listerWatcher,
  type Clients,
  type DeepReadonly,
  type KubeObjectLike,
  type ListerWatcher,
} from '../../src/k8s/client/index.ts';
import type { KubeApiserver } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { createNamespace, FIXTURES, serviceAccount, startApiserverWithCrds } from './helpers.ts';

const fastRetry = { backoff: { initialMs: 100, maxMs: 500 } } as const;

/** Handler calls as text, in order. */
function record<T extends KubeObjectLike>(
  informer: Informer<T>,
  show: (o: DeepReadonly<T>) => string = (o) => o.metadata.name,
): string[] {
  const log: string[] = [];
  informer.addEventHandler({
    onAdd: (o, initial) => log.push(`add ${show(o)}${initial ? ' (initial)' : ''}`),
    onUpdate: (a, b) => log.push(a === b ? `resync ${show(b)}` : `update ${show(b)}`),
    onDelete: (o, info) =>
      log.push(`delete ${show(o)}${info.finalStateUnknown ? ' (final state unknown)' : ''}`),
  });
  return log;
}

/** A ListerWatcher whose watches the test can hold back and cut. */
function gated<T>(inner: ListerWatcher<T>) {
  let open = true;
  let release: (() => void) | undefined;
  let current: AbortController | undefined;
  let waiting = 0;
  const lw: ListerWatcher<T> = {
    list: (opts) => inner.list(opts),
    async watch(opts) {
      while (!open) {
        waiting++;
        try {
          await new Promise<void>((resolve, reject) => {
            release = resolve;
            opts.signal.addEventListener('abort', () => reject(opts.signal.reason), { once: true });
          });
        } finally {
          waiting--;
        }
      }
      current = new AbortController();
      return inner.watch({ ...opts, signal: AbortSignal.any([opts.signal, current.signal]) });
    },
  };
  return {
    lw,
    hold: () => {
      open = false;
    },
    open: () => {
      open = true;
      release?.();
    },
    cut: () => current?.abort(new Error('connection cut by the test')),
    get waiting() {
      return waiting;
    },
  };
}

describe('informers on a real kube-apiserver', () => {
  let server: KubeApiserver;
  let clients: Clients;

  before(async () => {
    server = await startApiserverWithCrds({
      extraArgs: ['--watch-cache-sizes=etcdinspections.etcdmonitor.dev#0'],
    });
    clients = createClients(server.adminKubeConfig());
  });

  after(async () => {
    await clients?.close();
    await server?.stop();
  });

  const cluster = (ns: string, name: string, labels: Record<string, string> = {}) => ({
    metadata: { name, namespace: ns, labels },
    spec: { endpoints: ['https://10.0.0.1:2379'] },
  });
  const inspection = (ns: string, name: string) => ({
    metadata: { name, namespace: ns },
    spec: { clusterName: 'c', inspectionType: 'healthy', intervalInSecond: 10 },
  });

  it('lists, then delivers adds, updates and deletes; listers read the frozen cache', async () => {
    const ns = await createNamespace(server, 'inf');
    await clients.etcdClusters.create(cluster(ns, 'a'));
    const informer = createInformer(clients.etcdClusters, { namespace: ns }, fastRetry);
    const log = record(informer, (o) => `${o.metadata.name}:${o.status?.phase ?? '-'}`);
    informer.start();
    try {
      assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true);
      assert.deepEqual(log, ['add a:- (initial)']);
      await clients.etcdClusters.create(cluster(ns, 'b'));
      await clients.etcdClusters.patchStatus(ns, 'a', { status: { phase: 'Running' } });
      await clients.etcdClusters.delete(ns, 'b');
      await eventually(() => (log.length === 4 ? true : undefined), 'three events');
      assert.deepEqual(log, ['add a:- (initial)', 'add b:-', 'update a:Running', 'delete b:-']);

      const a = informer.lister.get(ns, 'a');
      assert.equal(a?.status?.phase, 'Running');
      assert.equal(informer.lister.get(ns, 'b'), undefined);
      assert.deepEqual(
        informer.lister.list(ns).map((o) => o.metadata.name),
        ['a'],
      );
      assert.ok(Object.isFrozen(a) && Object.isFrozen(a.spec.endpoints) && Object.isFrozen(a.metadata));
      assert.throws(() => {
        (a.spec as { description?: string }).description = 'changed';
      }, TypeError);
      assert.ok(Number(informer.resourceVersion) > 0);
    } finally {
      await informer.stop();
    }
  });

  it('informs on core Secrets the same way (what the controller watches for TLS and passwords)', async () => {
    const ns = await createNamespace(server, 'secrets');
    const informer = createInformer(clients.secrets, { namespace: ns }, fastRetry);
    const log = record(
      informer,
      (o) => `${o.metadata.name}:${Buffer.from(o.data?.['password'] ?? '', 'base64').toString()}`,
    );
    informer.start();
    try {
      assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true);
      const secret = (password: string): string =>
        `apiVersion: v1\nkind: Secret\nmetadata: {name: etcd-auth, namespace: ${ns}}\nstringData: {username: root, password: ${password}}\n`;
      await server.applyManifests(secret('one'));
      await server.applyManifests(secret('two'));
      await clients.secrets.delete(ns, 'etcd-auth');
      await eventually(() => (log.length === 3 ? true : undefined), 'the Secret events');
      assert.deepEqual(log, ['add etcd-auth:one', 'update etcd-auth:two', 'delete etcd-auth:two']);
    } finally {
      await informer.stop();
    }
  });

  it('watches through a label selector: an object that stops matching leaves the cache', async () => {
    const ns = await createNamespace(server, 'sel');
    await clients.etcdClusters.create(cluster(ns, 'in', { monitored: 'yes' }));
    await clients.etcdClusters.create(cluster(ns, 'out', { monitored: 'no' }));
    const informer = createInformer(
      clients.etcdClusters,
      { namespace: ns, labelSelector: 'monitored=yes' },
      fastRetry,
    );
    const log = record(informer);
    informer.start();
    try {
      assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true);
      assert.deepEqual(informer.lister.keys(), [`${ns}/in`]);
      await clients.etcdClusters.patch(ns, 'out', { metadata: { labels: { monitored: 'yes' } } });
      await clients.etcdClusters.patch(ns, 'in', { metadata: { labels: { monitored: 'no' } } });
      await eventually(() => (log.length === 3 ? true : undefined), 'the selector changes');
      assert.deepEqual(log, ['add in (initial)', 'add out', 'delete in']);
      assert.deepEqual(informer.lister.keys(), [`${ns}/out`]);
    } finally {
      await informer.stop();
    }
    assert.throws(() => createInformer(clients.etcdClusters, { labelSelector: 'a in b' }), /cannot parse/);
  });

  it('re-delivers every cached object on resync', async () => {
    const ns = await createNamespace(server, 'resync');
    await clients.etcdClusters.create(cluster(ns, 'a'));
    await clients.etcdClusters.create(cluster(ns, 'b'));
    const informer = createInformer(
      clients.etcdClusters,
      { namespace: ns },
      { ...fastRetry, resyncPeriodMs: 200 },
    );
    const log = record(informer);
    informer.start();
    try {
      await eventually(
        () => (log.filter((l) => l.startsWith('resync')).length >= 4 ? true : undefined),
        'two resyncs',
        5_000,
      );
      assert.deepEqual(new Set(log.filter((l) => l.startsWith('resync'))), new Set(['resync a', 'resync b']));
    } finally {
      await informer.stop();
    }
  });

  it('relists after 410 Gone when its resourceVersion was compacted away, and catches up with what it missed', async () => {
    const ns = await createNamespace(server, 'gone');
    for (const name of ['a', 'b', 'c']) await clients.etcdInspections.create(inspection(ns, name));
    const gate = gated(listerWatcher(clients.etcdInspections, { namespace: ns }));
    const informer = new Informer<EtcdInspection>(gate.lw, { name: 'etcdinspections', ...fastRetry });
    const log = record(informer, (o) => `${o.metadata.name}/${o.spec.intervalInSecond}`);
    informer.start();
    try {
      assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true);
      await eventually(() => (informer.stats().watches === 1 ? true : undefined), 'the watch');
      // Cut the watch and hold the informer back while things change.
      gate.hold();
      gate.cut();
      await eventually(() => (gate.waiting > 0 ? true : undefined), 'the informer waiting to watch again');
      await clients.etcdInspections.delete(ns, 'a');
      await clients.etcdInspections.patch(ns, 'b', { spec: { intervalInSecond: 20 } });
      await clients.etcdInspections.create(inspection(ns, 'd'));
      // Compact etcd up to now: the informer's resourceVersion is gone.
      const status = JSON.parse(await server.etcd.etcdctl(['endpoint', 'status', '-w', 'json'])) as {
        Status: { header: { revision: number } };
      }[];
      const revision = status[0]?.Status.header.revision;
      assert.ok(revision !== undefined && revision > Number(informer.resourceVersion));
      await server.etcd.etcdctl(['compact', String(revision)]);
      gate.open();

      await eventually(() => (log.length === 6 ? true : undefined), 'the changes after the relist');
      assert.deepEqual(log.slice(3), ['update b/20', 'add d/10', 'delete a/10 (final state unknown)']);
      assert.equal(informer.stats().relists, 1);
      assert.equal(informer.stats().lists, 2);
      assert.deepEqual(informer.lister.keys().sort(), [`${ns}/b`, `${ns}/c`, `${ns}/d`]);
      // And it watches on from the new list.
      await clients.etcdInspections.delete(ns, 'c');
      await eventually(
        () => (log.at(-1) === 'delete c/10' ? true : undefined),
        'a watch event after the relist',
      );
    } finally {
      await informer.stop();
    }
  });

  it('reconnects with backoff across an apiserver restart', async () => {
    const ns = await createNamespace(server, 'restart');
    const informer = createInformer(clients.etcdClusters, { namespace: ns }, fastRetry);
    const log = record(informer);
    informer.start();
    try {
      assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true);
      await server.restart();
      await clients.etcdClusters.create(cluster(ns, 'after-restart'));
      // Seen through the resumed watch or a relist (410: the restarted cache starts at a newer revision).
      await eventually(
        () => (log.includes('add after-restart') ? true : undefined),
        'the object created after the restart',
        20_000,
      );
      assert.ok(informer.stats().errors >= 1, 'the outage was noticed');
      await eventually(() => (informer.stats().watches >= 2 ? true : undefined), 'a new watch', 10_000);
      await clients.etcdClusters.create(cluster(ns, 'watched-again'));
      await eventually(
        () => (log.includes('add watched-again') ? true : undefined),
        'an event on the new watch',
      );
    } finally {
      await informer.stop();
    }
  });

  it('abandons a watch that went silent (apiserver stopped with SIGSTOP) and resumes when it answers again', async () => {
    const ns = await createNamespace(server, 'silent');
    await clients.etcdClusters.create(cluster(ns, 'busy'));
    const writer = createClients(server.adminKubeConfig(), { requestTimeoutMs: 500 });
    let counter = 0;
    let writing = true;
    const writes = (async () => {
      while (writing) {
        // Failures while the apiserver is stopped are expected.
        await writer.etcdClusters
          .patch(ns, 'busy', { spec: { description: String(++counter) } })
          .catch(() => undefined);
        await sleep(150);
      }
    })();
    const informer = createInformer(
      clients.etcdClusters,
      { namespace: ns },
      // Writes come every ~150 ms; 3 s of silence leaves room for a loaded machine.
      { backoff: { initialMs: 100, maxMs: 300 }, silentWatchTimeoutMs: 3_000, connectTimeoutMs: 1_000 },
    );
    const seen = (): number => Number(informer.lister.get(ns, 'busy')?.spec.description ?? 0);
    informer.start();
    try {
      assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true);
      // A watch with events flowing is never taken for silent: 30 events (some 4.5 s) and no restart.
      const first = seen();
      await eventually(() => seen() >= first + 30, '30 events', 60_000);
      assert.equal(informer.stats().silentRestarts, 0);

      await server.pause();
      try {
        await eventually(
          () => (informer.stats().silentRestarts >= 1 ? true : undefined),
          'the silent watch detected',
          30_000,
        );
      } finally {
        server.resume();
      }
      const before = counter;
      await eventually(
        () => (seen() > before ? true : undefined),
        'events after the apiserver answered again',
        20_000,
      );
    } finally {
      writing = false;
      await writes;
      await writer.close();
      await informer.stop();
    }
  });

  it('retries with backoff while RBAC refuses it, and syncs once a Role allows list and watch', async () => {
    const ns = await createNamespace(server, 'rbac');
    await clients.etcdClusters.create(cluster(ns, 'a'));
    const token = await serviceAccount(server, ns, 'operator');
    const operator = createClients(server.kubeConfigFor(token));
    const informer = createInformer(operator.etcdClusters, { namespace: ns }, fastRetry);
    informer.start();
    try {
      assert.equal(await informer.waitForSync(AbortSignal.timeout(1_500)), false);
      const stats = informer.stats();
      assert.ok(stats.errors >= 2, `retried (${stats.errors} errors)`);
      assert.match(
        stats.lastError ?? '',
        new RegExp(
          `403 Forbidden: .*User "system:serviceaccount:${ns}:operator" cannot list resource "etcdclusters"`,
        ),
      );
      await server.applyManifests(`apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: read-clusters, namespace: ${ns}}
rules:
- apiGroups: [etcdmonitor.dev]
  resources: [etcdclusters]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: operator-reads-clusters, namespace: ${ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-clusters}
subjects:
- {kind: ServiceAccount, name: operator, namespace: ${ns}}
`);
      assert.equal(await informer.waitForSync(AbortSignal.timeout(10_000)), true);
      assert.deepEqual(informer.lister.keys(), [`${ns}/a`]);
    } finally {
      await informer.stop();
      await operator.close();
    }
  });

  it('stop() leaves nothing running: the process exits on its own', async () => {
    const ns = await createNamespace(server, 'exit');
    await clients.etcdClusters.create(cluster(ns, 'a'));
    const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-exit-'));
    try {
      const kubeconfig = join(dir, 'config');
      await server.writeKubeconfig(server.adminToken, kubeconfig);
      for (const mode of [[], ['--keep-clients']]) {
        const { code, stdout, stderr, afterStopMs } = await runFixture(join(FIXTURES, 'informer-exit.ts'), [
          kubeconfig,
          ns,
          ...mode,
        ]);
        assert.equal(code, 0, `exit ${code}: ${stderr}`);
        assert.match(stdout, /stopped with 1 cached/);
        // Closing the clients frees everything at once; idle kept-alive
        // connections alone do not hold the process either.
        assert.ok(
          afterStopMs < 2_000,
          `${mode.join(' ') || 'default'}: exited ${afterStopMs} ms after stop(): ${stderr}`,
        );
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

/** Runs a fixture with Node; resolves with its exit and how long it lived after printing "stopped". */
function runFixture(
  file: string,
  args: readonly string[],
): Promise<{ code: number | null; stdout: string; stderr: string; afterStopMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let stoppedAt: number | undefined;
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
      if (stoppedAt === undefined && stdout.includes('stopped')) stoppedAt = Date.now();
    });
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const killer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the fixture did not exit within 30 s: ${stderr}`));
    }, 30_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, afterStopMs: stoppedAt === undefined ? -1 : Date.now() - stoppedAt });
    });
  });
}
