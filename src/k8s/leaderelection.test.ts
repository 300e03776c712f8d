import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, settle } from '../testing/fake-clock.ts';
import {
  LeaderElector,
  LeadershipLostError,
  recordFromLease,
  validateLeaderElectionOptions,
  type LeaderElectionOptions,
  type LeaderElectionRecord,
  type LeaseLock,
} from './leaderelection.ts';
import { kubeMicroTime } from './api/meta.ts';

class ConflictError extends Error {}

/** An in-memory Lease with resourceVersion semantics; each lock remembers the version it last saw. */
class FakeLeaseStore {
  record: LeaderElectionRecord | null = null;
  version = 0;
  readonly calls: string[] = [];
  /** Identities whose calls fail (unreachable API server) or hang until cancelled. */
  readonly failing = new Set<string>();
  readonly hanging = new Set<string>();

  lock(who: string): LeaseLock {
    let seen = -1;
    const store = this;
    const gate = async (op: string, signal: AbortSignal): Promise<void> => {
      store.calls.push(`${who}:${op}`);
      await Promise.resolve();
      if (store.failing.has(who)) throw new Error('connection refused');
      if (store.hanging.has(who)) {
        await new Promise<never>((_, reject) => {
          if (signal.aborted) reject(signal.reason as Error);
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        });
      }
      signal.throwIfAborted();
    };
    return {
      description: 'test/lease',
      async get(signal) {
        await gate('get', signal);
        seen = store.version;
        return store.record === null ? null : { ...store.record };
      },
      async create(record, signal) {
        await gate('create', signal);
        if (store.record !== null) throw new ConflictError('already exists');
        store.record = { ...record };
        seen = ++store.version;
      },
      async update(record, signal) {
        await gate('update', signal);
        if (seen !== store.version) throw new ConflictError('conflict');
        store.record = { ...record };
        seen = ++store.version;
      },
    };
  }

  /** A lease another process wrote before the test's candidates start. */
  heldBy(holder: string, leaseDurationSeconds: number, leaseTransitions: number): void {
    this.record = {
      holderIdentity: holder,
      leaseDurationSeconds,
      acquireTime: undefined,
      renewTime: undefined,
      leaseTransitions,
    };
    this.version++;
  }

  /** An out-of-band write, like `kubectl edit lease`. */
  steal(holder: string): void {
    assert.ok(this.record !== null);
    this.record = { ...this.record, holderIdentity: holder };
    this.version++;
  }
}

interface Harness {
  readonly elector: LeaderElector;
  readonly abort: AbortController;
  readonly done: Promise<void>;
  readonly events: string[];
  leadingSignal: AbortSignal | undefined;
  startedAt: number | undefined;
  stoppedAt: number | undefined;
}

function start(
  store: FakeLeaseStore,
  clock: FakeClock,
  identity: string,
  opts: Partial<LeaderElectionOptions> & { workAfterStop?: number } = {},
): Harness {
  const abort = new AbortController();
  const h: Harness = {
    elector: undefined as unknown as LeaderElector,
    abort,
    done: Promise.resolve(),
    events: [],
    leadingSignal: undefined,
    startedAt: undefined,
    stoppedAt: undefined,
  };
  const elector = new LeaderElector({
    lock: store.lock(identity),
    identity,
    clock,
    random: () => 0,
    onStartedLeading: async (signal) => {
      h.startedAt = clock.now();
      h.leadingSignal = signal;
      h.events.push('started');
      await new Promise<void>((r) => signal.addEventListener('abort', () => r(), { once: true }));
      if (opts.workAfterStop !== undefined) {
        await new Promise<void>((r) => clock.after(opts.workAfterStop as number, r));
      }
      h.events.push('work-ended');
    },
    onStoppedLeading: () => {
      h.stoppedAt = clock.now();
      h.events.push('stopped');
    },
    onNewLeader: (id) => h.events.push(`leader:${id}`),
    ...opts,
  });
  const done = elector.run(abort.signal);
  return Object.assign(h, { elector, done });
}

/** Cancels the candidates and waits until each has stopped (and released, where it leads). */
async function stopAll(...candidates: Harness[]): Promise<void> {
  for (const c of candidates) c.abort.abort();
  await Promise.all(candidates.map((c) => c.done));
}

/** A fake clock and lease store where candidate "a" has started and settled as the lone leader. */
async function firstLeader(opts: Parameters<typeof start>[3] = {}) {
  const clock = new FakeClock();
  const store = new FakeLeaseStore();
  const a = start(store, clock, 'a', opts);
  await settle();
  return { clock, store, a };
}

test('a lone candidate creates the lease and leads', async () => {
  const { clock, store, a } = await firstLeader();
  assert.equal(a.elector.isLeader(), true);
  assert.deepEqual(a.events, ['leader:a', 'started']);
  assert.equal(a.leadingSignal?.aborted, false);
  assert.equal(store.record?.holderIdentity, 'a');
  assert.equal(store.record?.leaseDurationSeconds, 60);
  assert.equal(store.record?.leaseTransitions, 0);
  assert.equal(store.record?.acquireTime, kubeMicroTime(clock.date()));
  assert.match(store.record?.renewTime ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  a.abort.abort();
  await a.done;
});

test('the leader renews every retryPeriod with one optimistic update, keeping acquireTime and transitions', async () => {
  const { clock, store, a } = await firstLeader();
  const acquired = store.record?.acquireTime;
  store.calls.length = 0;
  await clock.advance(5_000);
  assert.deepEqual(store.calls, ['a:update']);
  assert.equal(store.record?.renewTime, kubeMicroTime(clock.date()));
  assert.equal(store.record?.acquireTime, acquired);
  await clock.advance(60_000);
  assert.equal(store.calls.length, 13);
  assert.ok(store.calls.every((c) => c === 'a:update'));
  assert.equal(store.record?.leaseTransitions, 0);
  assert.equal(a.elector.isLeader(), true);
  a.abort.abort();
  await a.done;
});

test('a standby never leads while the leader renews, even with the leader clock a year off', async () => {
  const store = new FakeLeaseStore();
  const clockA = new FakeClock(Date.UTC(2024, 0, 1));
  const clockB = new FakeClock(Date.UTC(2025, 0, 1));
  const a = start(store, clockA, 'a');
  await settle();
  const b = start(store, clockB, 'b');
  for (let t = 0; t < 300_000; t += 1000) {
    await clockA.advance(1000);
    await clockB.advance(1000);
  }
  assert.equal(a.elector.isLeader(), true);
  assert.equal(b.elector.isLeader(), false);
  assert.equal(b.elector.leader(), 'a');
  assert.deepEqual(b.events, ['leader:a']);
  await stopAll(a, b);
});

test('a standby takes over an expired lease leaseDuration after it last saw it change, and counts the transition', async () => {
  const { clock, store, a } = await firstLeader({ releaseOnCancel: false });
  const b = start(store, clock, 'b');
  await clock.advance(12_000);
  // The leader dies without releasing (its last renewal was at t=10 s).
  a.abort.abort();
  await a.done;
  assert.equal(store.record?.holderIdentity, 'a');
  const lastChange = 10_000;
  await clock.advance(40_000);
  assert.equal(b.elector.isLeader(), false, 'the lease is still valid 40 s later');
  while (!b.elector.isLeader() && clock.now() < 200_000) await clock.advance(1000);
  const takeover = (b.startedAt as number) - lastChange;
  // b observed the last change at its first poll after t=10 s (poll every 5 s, no jitter here).
  assert.ok(takeover >= 60_000 && takeover <= 65_000, `took over ${takeover} ms after the last renewal`);
  assert.equal(store.record?.holderIdentity, 'b');
  assert.equal(store.record?.leaseTransitions, 1);
  assert.equal(store.record?.acquireTime, kubeMicroTime(clock.date()));
  assert.deepEqual(b.events, ['leader:a', 'leader:b', 'started']);
  b.abort.abort();
  await b.done;
});

test('a leader that cannot renew stops leading exactly renewDeadline after its last successful renewal started', async () => {
  const { clock, store, a } = await firstLeader();
  await clock.advance(10_000); // renewed at 5 s and 10 s
  store.failing.add('a');
  await clock.advance(14_999);
  assert.equal(a.elector.isLeader(), true);
  assert.equal(a.leadingSignal?.aborted, false);
  await clock.advance(1);
  assert.equal(a.elector.isLeader(), false);
  assert.equal(a.stoppedAt, 25_000);
  assert.ok(a.leadingSignal?.reason instanceof LeadershipLostError);
  assert.match(String((a.leadingSignal?.reason as Error | undefined)?.message), /renewDeadline/);
  await a.done;
  assert.deepEqual(a.events, ['leader:a', 'started', 'stopped', 'work-ended']);
});

test('a renewal hanging on the network does not delay stepping down; the call is cancelled', async () => {
  const { clock, store, a } = await firstLeader({ releaseOnCancel: false });
  store.hanging.add('a');
  await clock.advance(14_999);
  assert.equal(a.elector.isLeader(), true);
  await clock.advance(1);
  assert.equal(a.elector.isLeader(), false);
  assert.equal(a.stoppedAt, 15_000);
  await a.done;
  assert.equal(clock.pendingTimers, 0);
});

test('a leader whose lease is taken out of band stops at its next renewal, not at the deadline', async () => {
  const { clock, store, a } = await firstLeader();
  await clock.advance(7_000);
  store.steal('intruder');
  store.calls.length = 0;
  await clock.advance(3_000);
  assert.equal(a.elector.isLeader(), false);
  assert.equal(a.stoppedAt, 10_000);
  assert.match(String((a.leadingSignal?.reason as Error | undefined)?.message), /taken by intruder/);
  // The optimistic update conflicted, the read showed the new holder.
  assert.deepEqual(store.calls.slice(0, 2), ['a:update', 'a:get']);
  await a.done;
  assert.equal(store.record?.holderIdentity, 'intruder', 'the lease of the new holder is left alone');
  assert.ok(a.events.includes('leader:intruder'));
});

test('on shutdown the leader stops at once, waits for its work, then releases so a standby takes over at its next retry', async () => {
  const { clock, store, a } = await firstLeader({ workAfterStop: 2_000 });
  const b = start(store, clock, 'b');
  await clock.advance(20_000);
  a.abort.abort();
  assert.equal(a.elector.isLeader(), false);
  assert.equal(a.leadingSignal?.aborted, true);
  assert.deepEqual(a.events, ['leader:a', 'started', 'stopped']);
  await clock.advance(1_999);
  assert.equal(store.record?.holderIdentity, 'a', 'not released while the work is still running');
  await clock.advance(1);
  await a.done;
  assert.deepEqual(a.events, ['leader:a', 'started', 'stopped', 'work-ended']);
  assert.equal(store.record?.holderIdentity, '');
  assert.equal(store.record?.leaseDurationSeconds, 1);
  const releasedAt = clock.now();
  while (!b.elector.isLeader() && clock.now() < releasedAt + 60_000) await clock.advance(100);
  assert.ok(
    (b.startedAt as number) - releasedAt <= 5_000,
    `standby took ${(b.startedAt as number) - releasedAt} ms`,
  );
  assert.equal(store.record?.holderIdentity, 'b');
  assert.equal(store.record?.leaseTransitions, 1);
  b.abort.abort();
  await b.done;
});

test('without releaseOnCancel the lease is left to expire', async () => {
  const { store, a } = await firstLeader({ releaseOnCancel: false });
  a.abort.abort();
  await a.done;
  assert.equal(store.record?.holderIdentity, 'a');
  assert.deepEqual(a.events, ['leader:a', 'started', 'stopped', 'work-ended']);
});

test('two candidates starting at once: one create conflicts, exactly one leads', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore();
  const a = start(store, clock, 'a');
  const b = start(store, clock, 'b');
  await settle();
  assert.equal(Number(a.elector.isLeader()) + Number(b.elector.isLeader()), 1);
  assert.ok(store.calls.includes('a:create') && store.calls.includes('b:create'), 'both tried to create');
  for (let i = 0; i < 30; i++) {
    await clock.advance(1000);
    assert.equal(Number(a.elector.isLeader()) + Number(b.elector.isLeader()), 1);
  }
  await stopAll(a, b);
});

test('two candidates updating the same expired lease: the resourceVersion lets only one win', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore();
  store.heldBy('dead', 10, 4);
  const a = start(store, clock, 'a');
  const b = start(store, clock, 'b');
  await settle();
  assert.equal(a.elector.isLeader() || b.elector.isLeader(), false, 'the lease is valid when first observed');
  await clock.advance(10_000);
  assert.equal(Number(a.elector.isLeader()) + Number(b.elector.isLeader()), 1);
  assert.equal(store.record?.leaseTransitions, 5);
  await stopAll(a, b);
});

test('a failing leading work makes the leader step down and release', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore();
  let stopped = 0;
  const elector = new LeaderElector({
    lock: store.lock('a'),
    identity: 'a',
    clock,
    random: () => 0,
    onStartedLeading: async () => {
      await new Promise<void>((r) => clock.after(3_000, r));
      throw new Error('controller crashed');
    },
    onStoppedLeading: () => stopped++,
  });
  const done = elector.run(new AbortController().signal);
  await settle();
  assert.equal(elector.isLeader(), true);
  await clock.advance(3_000);
  await done;
  assert.equal(elector.isLeader(), false);
  assert.equal(stopped, 1);
  assert.equal(store.record?.holderIdentity, '');
});

test('aborting before leadership: neither callback runs and nothing is left scheduled', async () => {
  const clock = new FakeClock();
  const store = new FakeLeaseStore();
  store.heldBy('other', 60, 0);
  const b = start(store, clock, 'b');
  await clock.advance(12_000);
  assert.equal(b.elector.isLeader(), false);
  b.abort.abort();
  await b.done;
  assert.deepEqual(b.events, ['leader:other']);
  assert.equal(clock.pendingTimers, 0);
  await assert.rejects(
    (async () => {
      const c = start(store, clock, 'c');
      try {
        await c.elector.run(c.abort.signal);
      } finally {
        c.abort.abort();
        await c.done;
      }
    })(),
    /already running/,
  );
});

test('the health check reports a leader whose lease ran out without renewal (a stuck event loop)', async () => {
  const fake = new FakeClock();
  const store = new FakeLeaseStore();
  // A process whose timers never fire: it neither renews nor notices the deadline.
  const stuckClock = { now: () => fake.now(), date: () => fake.date(), after: () => ({ cancel: () => {} }) };
  const a = start(store, fake, 'a', { clock: stuckClock });
  await settle();
  assert.equal(a.elector.isLeader(), true);
  assert.equal(a.elector.check(), undefined);
  await fake.advance(60_000);
  assert.equal(a.elector.check(), undefined, 'valid up to leaseDuration');
  await fake.advance(1_000);
  assert.match(a.elector.check() ?? '', /lease test\/lease expired 1000 ms ago/);
  assert.equal(a.elector.check(5_000), undefined, 'within the tolerance');
  a.abort.abort();
  assert.equal(a.elector.check(), undefined, 'not leading: nothing to report');
  await a.done;
});

test('options are validated with clear messages', () => {
  const v = (o: Partial<LeaderElectionOptions>): unknown => validateLeaderElectionOptions(o);
  assert.throws(
    () => v({ leaseDurationMs: 15_000, renewDeadlineMs: 15_000 }),
    /leaseDuration \(15000 ms\) must be greater than renewDeadline \(15000 ms\)/,
  );
  assert.throws(
    () => v({ renewDeadlineMs: 6_000, retryPeriodMs: 5_000 }),
    /renewDeadline \(6000 ms\) must be greater than retryPeriod × 1.2 \(6000 ms\)/,
  );
  assert.throws(() => v({ retryPeriodMs: 0 }), /retryPeriod must be a positive duration, got 0 ms/);
  assert.throws(() => v({ leaseDurationMs: 60_500 }), /whole number of seconds/);
  assert.throws(() => v({ identity: ' ' }), /identity must not be empty/);
  const d = validateLeaderElectionOptions({});
  assert.deepEqual(
    {
      lease: d.leaseDurationMs,
      renew: d.renewDeadlineMs,
      retry: d.retryPeriodMs,
      release: d.releaseOnCancel,
    },
    { lease: 60_000, renew: 15_000, retry: 5_000, release: true },
  );
  assert.match(d.identity, /^.+_[0-9a-f]{16}$/);
  assert.notEqual(validateLeaderElectionOptions({}).identity, d.identity);
});

test('records read from Leases keep MicroTime strings and default missing fields', () => {
  const r = recordFromLease({
    spec: {
      holderIdentity: 'x',
      leaseDurationSeconds: 15,
      renewTime: '2025-01-01T00:00:01.123456Z',
      acquireTime: kubeMicroTime(new Date(Date.UTC(2025, 0, 1, 0, 0, 0, 5))),
    },
  });
  assert.deepEqual(r, {
    holderIdentity: 'x',
    leaseDurationSeconds: 15,
    renewTime: '2025-01-01T00:00:01.123456Z',
    acquireTime: '2025-01-01T00:00:00.005000Z',
    leaseTransitions: 0,
  });
  assert.deepEqual(recordFromLease({}), {
    holderIdentity: '',
    leaseDurationSeconds: 0,
    acquireTime: undefined,
    renewTime: undefined,
    leaseTransitions: 0,
  });
});
