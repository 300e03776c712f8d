/**
 * `etcd-monitor operator` as processes, the way Deployments run it: two
 * replicas with leader election (short durations: lease 4 s, renew 2 s,
 * retry 0.5 s), authenticated by a kubeconfig file holding the token of the
 * etcd-monitor-operator ServiceAccount of deploy/rbac.yaml. Only the leader
 * acts; killing it hands over within the lease duration; SIGTERM releases
 * the lease; a leader whose lease is taken stops and exits 1. Also the
 * usage errors of the three commands (exit 2, before anything is contacted).
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { cli } from '../support/cli.ts';
import { hostPort } from '../support/specs.ts';
import {
  createCluster,
  getCluster,
  httpStatus,
  LEASE_MS,
  leaseFlags,
  namespace,
  OPERATOR_NAMESPACE,
  RETRY_MS,
  scrapeAt,
  startBed,
  startOperator,
  type Bed,
  type OperatorProcess,
} from './helpers.ts';

interface Replica extends OperatorProcess {
  identity(): string | undefined;
  said(msg: string): number;
}

describe('etcd-monitor operator as two replicas', () => {
  let bed: Bed;
  let etcd: TestCluster;
  let dir: string;
  let kubeconfig: string;
  let ns: string;
  const replicas: Replica[] = [];

  /** The second replica finds its kubeconfig through $KUBECONFIG (a list whose first file is missing), as kubectl would. */
  async function replica(name: string, lease: string, extra: readonly string[] = []): Promise<Replica> {
    const viaEnv = name === 'second';
    const op = await startOperator(
      name,
      (address) => [
        ...(viaEnv ? [] : ['--kubeconfig', kubeconfig]),
        '--leader-elect',
        ...leaseFlags(lease),
        '--metrics-addr',
        address,
        '--log-format',
        'json',
        '--log-level',
        'debug',
        ...extra,
      ],
      viaEnv
        ? { env: { ...process.env, KUBECONFIG: [join(dir, 'missing'), kubeconfig].join(delimiter) } }
        : {},
    );
    const r: Replica = Object.assign(op, {
      identity: () =>
        op.logs.find((l) => typeof l['identity'] === 'string')?.['identity'] as string | undefined,
      said: (msg: string) => op.logs.filter((l) => l['msg'] === msg).length,
    });
    replicas.push(r);
    return r;
  }

  async function holder(lease: string): Promise<string | undefined> {
    const res = await bed.server.request(
      'GET',
      `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/${lease}`,
    );
    return res.status === 200
      ? ((res.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity ?? '')
      : undefined;
  }

  const series = (address: string) =>
    scrapeAt(address).then((s) =>
      [...s.keys()].filter((k) => k.startsWith('inspection_') && k.includes(`namespace="${ns}"`)),
    );

  before(async () => {
    [bed, etcd] = await Promise.all([
      startBed(),
      startEtcdCluster({ version: '3.6', members: 1, name: 'e2eha' }),
    ]);
    dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-e2e-'));
    kubeconfig = join(dir, 'kubeconfig');
    await bed.server.writeKubeconfig(await bed.token('operator'), kubeconfig);
    ns = await namespace(bed.server, 'ha');
    await createCluster(bed.admin, ns, 'ha', {
      endpoints: [etcd.endpoints[0]!],
      features: { healthy: { intervalSeconds: 1 }, alarm: { intervalSeconds: 1 } },
    });
  });

  after(async () => {
    for (const r of replicas) if (r.child.exitCode === null) r.child.kill('SIGKILL');
    await Promise.all(replicas.map((r) => r.exited));
    await Promise.allSettled([bed?.stop(), etcd?.stop()]);
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  let first: Replica;
  let second: Replica;

  it('only the leader acts: it alone reads, writes and serves series; the standby is alive but not ready', async () => {
    [first, second] = await Promise.all([replica('first', 'e2e-ha'), replica('second', 'e2e-ha')]);
    const leader = await eventually(
      async () => {
        const id = await holder('e2e-ha');
        return [first, second].find(
          (r) => r.identity() === id && r.said('caches synced: controllers running') === 1,
        );
      },
      'a leader with synced caches',
      20_000,
      100,
    );
    const standby = leader === first ? second : first;
    await eventually(
      async () => {
        const c = await getCluster(bed.admin, ns, 'ha');
        return c?.status?.phase === 'Running' &&
          c.status.conditions?.find((x) => x.type === 'Healthy')?.status === 'True'
          ? true
          : undefined;
      },
      'the cluster Running',
      20_000,
    );
    await eventually(
      async () => ((await series(leader.address)).length > 0 ? true : undefined),
      "the leader's series",
    );
    // Watch for a few renewals: the standby never acts.
    await new Promise((r) => setTimeout(r, 2_500));
    assert.equal(await httpStatus(leader.address, '/readyz'), 200);
    assert.equal(await httpStatus(standby.address, '/readyz'), 503);
    assert.equal(await httpStatus(standby.address, '/healthz'), 200);
    assert.deepEqual(await series(standby.address), [], 'the standby exports no inspection series');
    assert.equal((await scrapeAt(standby.address)).get('etcd_monitor_clusters'), 0);
    assert.ok(leader.said('status written') > 0, 'the leader writes status');
    assert.ok(leader.said('EtcdInspection created') === 2);
    for (const msg of [
      'leading: starting informers',
      'status written',
      'EtcdInspection created',
      'cluster added',
    ])
      assert.equal(standby.said(msg), 0, `standby: ${msg}`);
    assert.equal(await holder('e2e-ha'), leader.identity());
    first = leader;
    second = standby;
  });

  it('killing the leader hands over to the standby within the lease duration', async (t) => {
    first.child.kill('SIGKILL');
    await first.exited;
    const killedAt = performance.now();
    await eventually(
      async () => ((await httpStatus(second.address, '/readyz')) === 200 ? true : undefined),
      'the standby ready',
      // The lease runs LEASE_MS from the standby's last sighting of a renewal; it retries every
      // RETRY_MS × (1 + 1.2·rand). Ten times that only guards against a hang: the time is printed.
      10 * (LEASE_MS + 2.2 * RETRY_MS),
      50,
    );
    const took = performance.now() - killedAt;
    t.diagnostic(
      `the standby took over ${Math.round(took)} ms after the leader was killed (lease ${LEASE_MS} ms)`,
    );
    assert.equal(await holder('e2e-ha'), second.identity());
    await eventually(
      async () =>
        (await series(second.address)).some(
          (s) =>
            s.startsWith('inspection_etcd_endpoint_healthy{') && s.includes(hostPort(etcd.endpoints[0]!)),
        )
          ? true
          : undefined,
      'the series on the new leader',
    );
    // And it acts on changes.
    await bed.admin.etcdClusters.patch(ns, 'ha', { spec: { features: { alarm: { enabled: false } } } });
    await eventually(
      async () => ((await bed.admin.etcdInspections.list(ns)).items.length === 1 ? true : undefined),
      'the alarm inspection deleted by the new leader',
    );
    // Logs are written asynchronously: the line may follow the API's answer.
    await eventually(
      () => (second.said('EtcdInspection deleted') === 1 ? true : undefined),
      'the new leader logged the deletion',
    );
  });

  it('SIGTERM stops gracefully: exit 0 and the lease released', async () => {
    second.child.kill('SIGTERM');
    assert.equal(await second.exited, 0);
    assert.equal(await holder('e2e-ha'), '', 'released, so a standby would take over at its next retry');
    assert.ok(second.said('released leader lease') === 1);
  });

  it('a leader whose lease is taken stops at once and exits 1', async () => {
    const r = await replica('third', 'e2e-taken');
    await eventually(
      async () =>
        (await httpStatus(r.address, '/readyz')) === 200 && (await series(r.address)).length > 0
          ? true
          : undefined,
      'third leading with series',
      // A guard only: a third operator starting on a machine at load 30 took over 60 s.
      180_000,
    );
    const path = `/apis/coordination.k8s.io/v1/namespaces/${OPERATOR_NAMESPACE}/leases/e2e-taken`;
    // Read and replace until no renewal slips in between (409 Conflict means it did).
    await eventually(async () => {
      const lease = (await bed.server.request('GET', path)).body as { spec: Record<string, unknown> };
      const now = new Date().toISOString().replace('Z', '000Z');
      const taken = await bed.server.request('PUT', path, {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: 'someone-else',
          renewTime: now,
          acquireTime: now,
          leaseDurationSeconds: 60,
        },
      });
      if (taken.status === 409) return undefined;
      assert.equal(taken.status, 200);
      return true;
    }, 'the lease taken out of band');
    const code = await Promise.race([
      r.exited,
      // Only a guard against a hang (it exits at its next renewal).
      new Promise<string>((res) => setTimeout(() => res('still running'), 30_000).unref()),
    ]);
    assert.equal(code, 1);
    const order = r.logs.map((l) => l['msg']);
    assert.ok(order.indexOf('stopped leading') < order.indexOf('controllers stopped'));
    assert.ok(order.includes('leader election lost: exiting so that this replica restarts as a standby'));
    assert.equal(await holder('e2e-taken'), 'someone-else', 'a lost lease is not released (it is not ours)');
  });

  it('SIGTERM while the API server hangs: exit 1 after --shutdown-timeout, naming what was open', async () => {
    const r = await replica('fourth', 'e2e-hung', ['--shutdown-timeout', '1']);
    await eventually(
      async () => ((await httpStatus(r.address, '/readyz')) === 200 ? true : undefined),
      'fourth leading',
      180_000,
    );
    // Frozen, not gone: connections stay open and nothing answers. The lease release alone waits up to
    // its renew deadline (2 s here), so a 1 s bound is always the one that ends the stop; in production
    // a stop also waits on status writes (30 s) — the bound is what holds a replica to its grace period.
    await bed.server.pause();
    try {
      r.child.kill('SIGTERM');
      const code = await Promise.race([
        r.exited,
        // Only a guard against a hang: without the bound a stop waits on the API server's timeouts.
        new Promise<string>((res) => setTimeout(() => res('still running'), 25_000).unref()),
      ]);
      assert.equal(code, 1, `exit code (logs: ${JSON.stringify(r.logs.slice(-5))})`);
      const line = r.logs.find((l) => l['msg'] === 'shutdown did not finish within 1 s; exiting anyway');
      assert.ok(line !== undefined, 'the shutdown timeout is logged');
      assert.equal(line['stillOpen'], 'stopping the controllers');
    } finally {
      bed.server.resume();
    }
  });
});

describe('usage errors of the controller commands', { concurrency: true }, () => {
  for (const [args, message] of [
    [['operator', '--label-selector', 'a=b=c'], /--label-selector: label selector "a=b=c": cannot parse/],
    [
      ['etcdcluster', '--leader-elect-renew-deadline', '60s'],
      /--leader-elect-lease-duration \(60000 ms\) must be greater than --leader-elect-renew-deadline \(60000 ms\)/,
    ],
    [
      ['inspection', '--leader-elect-retry-period', 'soon'],
      /--leader-elect-retry-period must be a positive duration/,
    ],
    [['operator', '--metrics-addr', 'localhost'], /--metrics-addr "localhost" is not HOST:PORT/],
    [['operator', '--workers', '0'], /--workers must be an integer from 1 to \d+/],
    [
      ['operator', '--lease-lock-name', 'Not_A_Name'],
      /--lease-lock-name "Not_A_Name" is not a valid object name/,
    ],
    [['operator', '--kubeconfig', '/nonexistent/kubeconfig'], /--kubeconfig \/nonexistent\/kubeconfig: /],
  ] as const) {
    it(`${args.join(' ')}: exit 2`, async () => {
      // Ten CLIs start at once: the bound only guards against a hang, generously on a loaded machine.
      const r = await cli(args, 180_000);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
    });
  }

  it('no kubeconfig outside a pod: exit 2 with what to do', async () => {
    // A home without ~/.kube/config.
    const home = await mkdtemp(join(tmpdir(), 'etcd-monitor-home-'));
    // Empty values count as unset, as in kubectl.
    const r = await cli(['operator', '--leader-elect=false'], 180_000, {
      HOME: home,
      KUBECONFIG: '',
      KUBERNETES_SERVICE_HOST: '',
    });
    await rm(home, { recursive: true, force: true });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not running in a Kubernetes pod .*pass --kubeconfig or --master/);
  });
});
