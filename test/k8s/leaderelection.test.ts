/**
 * Leader election on a real kube-apiserver, as a ServiceAccount whose Role
 * grants only get/create/update on leases: one leader among candidates,
 * takeover after expiry, immediate takeover after a release, stepping down
 * at once when the lease is taken or cannot be renewed.
 * Timings are scaled down (lease 3-10 s, retry 0.5 s).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createClients, type Clients } from '../../src/k8s/client/index.ts';
import {
  KubeLeaseLock,
  LeaderElector,
  LeadershipLostError,
  type LeaderElectionOptions,
} from '../../src/k8s/leaderelection.ts';
import { startKubeApiserver, type KubeApiserver } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { createNamespace, serviceAccount } from './helpers.ts';

const RETRY_MS = 500;
const RENEW_MS = 1_500;

interface Candidate {
  readonly id: string;
  readonly elector: LeaderElector;
  readonly abort: AbortController;
  readonly done: Promise<void>;
  startedAt: number | undefined;
  stoppedAt: number | undefined;
  leadingSignal: AbortSignal | undefined;
}

describe('leader election on a real kube-apiserver', () => {
  let server: KubeApiserver;
  let ns: string;
  let kube: Clients;
  const running: Candidate[] = [];

  before(async () => {
    server = await startKubeApiserver();
    ns = await createNamespace(server, 'le');
    await server.applyManifests(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: leader-election, namespace: ${ns}}
rules:
- apiGroups: [coordination.k8s.io]
  resources: [leases]
  verbs: [get, create, update]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: leader-election, namespace: ${ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: leader-election}
subjects:
- {kind: ServiceAccount, name: operator, namespace: ${ns}}
`);
    const token = await serviceAccount(server, ns, 'operator');
    kube = createClients(server.kubeConfigFor(token));
  });

  after(async () => {
    for (const c of running) c.abort.abort();
    await Promise.allSettled(running.map((c) => c.done));
    await kube?.close();
    await server?.stop();
  });

  function candidate(lease: string, id: string, opts: Partial<LeaderElectionOptions> = {}): Candidate {
    const abort = new AbortController();
    const c = {
      id,
      abort,
      startedAt: undefined,
      stoppedAt: undefined,
      leadingSignal: undefined,
    } as Partial<Candidate> as Candidate;
    const elector = new LeaderElector({
      lock: new KubeLeaseLock(kube.leases, ns, lease),
      identity: id,
      leaseDurationMs: 3_000,
      renewDeadlineMs: RENEW_MS,
      retryPeriodMs: RETRY_MS,
      onStartedLeading: (signal) => {
        c.startedAt = performance.now();
        c.leadingSignal = signal;
        return new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      },
      onStoppedLeading: () => {
        c.stoppedAt = performance.now();
      },
      ...opts,
    });
    Object.assign(c, { elector, done: elector.run(abort.signal) });
    running.push(c);
    return c;
  }

  async function leaseSpec(name: string): Promise<Record<string, unknown>> {
    const res = await server.request('GET', `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/${name}`);
    assert.equal(res.status, 200);
    return (res.body as { spec: Record<string, unknown> }).spec;
  }

  it('elects exactly one leader among three, whose Lease has the client-go fields', async () => {
    const cs = ['a', 'b', 'c'].map((id) => candidate('one-leader', id));
    await eventually(() => cs.some((c) => c.elector.isLeader()), 'a leader', 10_000);
    // Watch for 4 s (8 renewals): never two leaders, never a change of leader.
    const leader = cs.find((c) => c.elector.isLeader()) as Candidate;
    const until = performance.now() + 4_000;
    while (performance.now() < until) {
      assert.deepEqual(
        cs.filter((c) => c.elector.isLeader()).map((c) => c.id),
        [leader.id],
      );
      await new Promise((r) => setTimeout(r, 25));
    }
    for (const c of cs) assert.equal(c.elector.leader(), leader.id, `${c.id} observes the leader`);
    const spec = await leaseSpec('one-leader');
    assert.equal(spec['holderIdentity'], leader.id);
    assert.equal(spec['leaseDurationSeconds'], 3);
    assert.equal(spec['leaseTransitions'], 0);
    assert.match(String(spec['acquireTime']), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.ok(
      Date.parse(String(spec['renewTime'])) > Date.parse(String(spec['acquireTime'])),
      'renewed since acquired',
    );
    for (const c of cs) c.abort.abort();
    await Promise.all(cs.map((c) => c.done));
  });

  it('a stopped leader that does not release is replaced within the lease duration', async () => {
    const a = candidate('expiry', 'a', { releaseOnCancel: false });
    await eventually(() => a.elector.isLeader(), 'a to lead', 10_000);
    const b = candidate('expiry', 'b');
    await new Promise((r) => setTimeout(r, 1_500));
    assert.equal(b.elector.isLeader(), false);
    a.abort.abort();
    await a.done;
    const stoppedAt = performance.now();
    assert.equal((await leaseSpec('expiry'))['holderIdentity'], 'a', 'not released');
    await eventually(() => b.elector.isLeader(), 'b to take over', 3_000 + 2.2 * RETRY_MS + 2_000);
    const took = (b.startedAt as number) - stoppedAt;
    // b saw a's last renewal at most one retry period before a stopped; the lease runs 3 s from that sighting.
    assert.ok(
      took >= 3_000 - RETRY_MS - 300,
      `took over ${Math.round(took)} ms after the leader stopped: before the lease expired`,
    );
    assert.ok(
      took <= 3_000 + 2.2 * RETRY_MS + 1_000,
      `took over ${Math.round(took)} ms after the leader stopped`,
    );
    const spec = await leaseSpec('expiry');
    assert.equal(spec['holderIdentity'], 'b');
    assert.equal(spec['leaseTransitions'], 1);
    b.abort.abort();
    await b.done;
  });

  it('a leader that releases on shutdown is replaced at once, not after the lease duration', async () => {
    const opts = { leaseDurationMs: 10_000 };
    const a = candidate('release', 'a', opts);
    await eventually(() => a.elector.isLeader(), 'a to lead', 10_000);
    const b = candidate('release', 'b', opts);
    await new Promise((r) => setTimeout(r, 1_000));
    a.abort.abort();
    await a.done;
    const releasedAt = performance.now();
    const spec = await leaseSpec('release');
    assert.equal(spec['holderIdentity'], '');
    assert.equal(spec['leaseDurationSeconds'], 1);
    await eventually(() => b.elector.isLeader(), 'b to take over', 10_000);
    const took = (b.startedAt as number) - releasedAt;
    assert.ok(took < 3_000, `took over ${Math.round(took)} ms after the release (lease is 10 s)`);
    b.abort.abort();
    await b.done;
  });

  it('a leader whose Lease is taken out of band stops leading at its next renewal', async () => {
    const a = candidate('stolen', 'a');
    await eventually(() => a.elector.isLeader(), 'a to lead', 10_000);
    const path = `/apis/coordination.k8s.io/v1/namespaces/${ns}/leases/stolen`;
    const res = await server.request(
      'PATCH',
      path,
      { spec: { holderIdentity: 'intruder' } },
      { contentType: 'application/merge-patch+json' },
    );
    assert.equal(res.status, 200);
    const stolenAt = performance.now();
    await eventually(() => a.stoppedAt !== undefined, 'a to stop leading', 5_000);
    const reacted = (a.stoppedAt as number) - stolenAt;
    assert.ok(
      reacted < RETRY_MS + 800,
      `stopped ${Math.round(reacted)} ms after the theft (renew deadline ${RENEW_MS} ms)`,
    );
    assert.equal(a.elector.isLeader(), false);
    assert.equal(a.leadingSignal?.aborted, true);
    assert.ok(a.leadingSignal?.reason instanceof LeadershipLostError);
    assert.match(String((a.leadingSignal?.reason as Error | undefined)?.message), /taken by intruder/);
    await a.done;
    assert.equal((await leaseSpec('stolen'))['holderIdentity'], 'intruder', 'the new holder keeps it');
  });

  it('a leader that cannot reach the apiserver stops leading at the renew deadline, while its calls hang', async () => {
    const a = candidate('deadline', 'a', { releaseOnCancel: false });
    await eventually(() => a.elector.isLeader(), 'a to lead', 10_000);
    server.pause();
    const pausedAt = performance.now();
    try {
      await eventually(() => a.stoppedAt !== undefined, 'a to stop leading', RENEW_MS + 2_000);
    } finally {
      server.resume();
    }
    const after = (a.stoppedAt as number) - pausedAt;
    // The last successful renewal started at most one retry period (plus its latency) before the pause;
    // the margin is for timer lag on a loaded machine (the hanging calls alone would never end).
    assert.ok(after <= RENEW_MS + 700, `stopped ${Math.round(after)} ms after the apiserver froze`);
    assert.ok(
      after >= RENEW_MS - RETRY_MS - 200,
      `stopped ${Math.round(after)} ms after the apiserver froze: too early`,
    );
    assert.match(String((a.leadingSignal?.reason as Error | undefined)?.message), /renewDeadline/);
    await a.done;
  });
});
