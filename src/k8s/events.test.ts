import { test } from 'node:test';
import assert from 'node:assert/strict';
import { apiErrorFrom } from './client/errors.ts';
import { FakeClock, settle } from '../testing/fake-clock.ts';
import {
  CountingEventRecorder,
  FakeEventRecorder,
  MAX_MESSAGE_LENGTH,
  type EventBody,
  type EventPatch,
  type EventRecorderOptions,
  type EventSink,
} from './events.ts';

interface Stored {
  body: EventBody;
  count: number;
  lastTimestamp: string;
  message: string;
}

type Failure = number | 'transport';

/** An in-memory Event API: records every call, can fail, and can hold calls in flight. */
class FakeSink implements EventSink {
  readonly events = new Map<string, Stored>();
  readonly calls: string[] = [];
  readonly failures: Failure[] = [];
  /** While set, calls wait for release() (or their signal). */
  gate: { promise: Promise<void>; release: () => void } | undefined;
  aborted = 0;

  hold(): void {
    let release!: () => void;
    const promise = new Promise<void>((r) => (release = r));
    this.gate = { promise, release };
  }

  release(): void {
    const g = this.gate;
    this.gate = undefined;
    g?.release();
  }

  async #enter(call: string, signal: AbortSignal): Promise<void> {
    this.calls.push(call);
    if (this.gate !== undefined) {
      const gate = this.gate.promise;
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve);
        signal.addEventListener(
          'abort',
          () => {
            this.aborted++;
            reject(signal.reason as Error);
          },
          { once: true },
        );
      });
    }
    await Promise.resolve();
    const failure = this.failures.shift();
    if (failure === 'transport') throw new Error('connect ECONNREFUSED');
    if (failure !== undefined) throw apiErrorFrom('event', failure, `HTTP ${failure}`);
  }

  async create(event: EventBody, signal: AbortSignal): Promise<void> {
    await this.#enter(`create ${event.reason} ${event.count}`, signal);
    const key = `${event.metadata.namespace}/${event.metadata.name}`;
    if (this.events.has(key)) throw apiErrorFrom('event', 409, 'AlreadyExists');
    this.events.set(key, {
      body: event,
      count: event.count,
      lastTimestamp: event.lastTimestamp,
      message: event.message,
    });
  }

  async patch(namespace: string, name: string, p: EventPatch, signal: AbortSignal): Promise<void> {
    await this.#enter(`patch ${p.count}`, signal);
    const stored = this.events.get(`${namespace}/${name}`);
    if (stored === undefined) throw apiErrorFrom('event', 404, 'NotFound');
    stored.count = p.count;
    stored.lastTimestamp = p.lastTimestamp;
  }

  only(): Stored {
    assert.equal(this.events.size, 1, `one Event expected, got ${[...this.events.keys()].join(', ')}`);
    return [...this.events.values()][0] as Stored;
  }
}

const cluster = {
  apiVersion: 'etcdmonitor.dev/v1alpha1',
  kind: 'EtcdCluster',
  metadata: { name: 'prod', namespace: 'ops', uid: '1111-2222', resourceVersion: '42' },
};
const other = { ...cluster, metadata: { ...cluster.metadata, name: 'staging', uid: '3333' } };

/** A recorder on a fake clock writing to a fake sink, as the EtcdCluster controller of pod-1. */
function recorder(opts: Partial<EventRecorderOptions> = {}) {
  const clock = new FakeClock();
  const sink = new FakeSink();
  const r = new CountingEventRecorder({
    sink,
    clock,
    component: 'etcdcluster-controller',
    instance: 'pod-1',
    ...opts,
  });
  return { clock, sink, r };
}

test('a burst of identical events becomes one Event carrying the whole count', async () => {
  const { sink, r } = recorder();
  for (let i = 0; i < 100; i++)
    r.event(cluster, 'Warning', 'ConnectFailed', 'dial tcp 10.0.0.1:2379: connection refused');
  await settle();
  assert.deepEqual(sink.calls, ['create ConnectFailed 100']);
  const e = sink.only();
  assert.equal(e.count, 100);
  assert.deepEqual(e.body.involvedObject, {
    apiVersion: 'etcdmonitor.dev/v1alpha1',
    kind: 'EtcdCluster',
    name: 'prod',
    namespace: 'ops',
    uid: '1111-2222',
    resourceVersion: '42',
  });
  assert.equal(e.body.metadata.namespace, 'ops');
  assert.match(e.body.metadata.name, /^prod\.[0-9a-f]+$/);
  assert.deepEqual(e.body.source, { component: 'etcdcluster-controller', host: 'pod-1' });
  assert.equal(e.body.reportingComponent, 'etcdcluster-controller');
  assert.equal(e.body.reportingInstance, 'pod-1');
  assert.equal(e.body.type, 'Warning');
  assert.equal(e.body.firstTimestamp, '2025-01-01T00:00:00Z');
  assert.equal(r.pending(), 0);
  await r.stop();
});

test('a repeated event later bumps count and lastTimestamp of the existing Event with a patch', async () => {
  const { clock, sink, r } = recorder();
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  await clock.advance(30_000);
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  await clock.advance(30_000);
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  assert.deepEqual(sink.calls, ['create ConnectFailed 1', 'patch 2', 'patch 3']);
  const e = sink.only();
  assert.equal(e.count, 3);
  assert.equal(e.body.firstTimestamp, '2025-01-01T00:00:00Z');
  assert.equal(e.lastTimestamp, '2025-01-01T00:01:00Z');
  await r.stop();
});

test('a different message, reason, type or object makes a separate Event', async () => {
  const { sink, r } = recorder();
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  r.event(cluster, 'Warning', 'ConnectFailed', 'timeout');
  r.event(cluster, 'Warning', 'InvalidSpec', 'refused');
  r.event(cluster, 'Normal', 'ConnectFailed', 'refused');
  r.event(other, 'Warning', 'ConnectFailed', 'refused');
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  assert.equal(sink.events.size, 5);
  const counts = [...sink.events.values()]
    .map((e) => `${e.body.involvedObject.name} ${e.body.type} ${e.body.reason} ${e.message} ${e.count}`)
    .sort();
  assert.deepEqual(counts, [
    'prod Normal ConnectFailed refused 1',
    'prod Warning ConnectFailed refused 2',
    'prod Warning ConnectFailed timeout 1',
    'prod Warning InvalidSpec refused 1',
    'staging Warning ConnectFailed refused 1',
  ]);
  await r.stop();
});

test('the rate limit bounds API calls per object, keeps counting, and writes the true count when a token comes back', async () => {
  const { clock, sink, r } = recorder();
  for (let i = 0; i < 100; i++) {
    r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
    await settle();
  }
  assert.equal(sink.calls.length, 25, 'burst of 25 calls');
  assert.equal(sink.only().count, 25);
  assert.equal(r.pending(), 1);
  // Another object has its own bucket.
  r.event(other, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  assert.equal(sink.calls.length, 26);
  // One token per 5 minutes: the deferred occurrences go out in one patch.
  await clock.advance(299_000);
  assert.equal(sink.calls.length, 26);
  await clock.advance(1_000);
  assert.equal(sink.calls.length, 27);
  assert.equal(sink.calls.at(-1), 'patch 100');
  assert.equal(r.pending(), 0);
  assert.ok(r.stats().deferred >= 1);
  await r.stop();
  assert.equal(clock.pendingTimers, 0);
});

test('occurrences recorded while a write is in flight are sent together in the next call', async () => {
  const { sink, r } = recorder();
  sink.hold();
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  for (let i = 0; i < 50; i++) r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  assert.deepEqual(sink.calls, ['create ConnectFailed 1'], 'the same Event is never written twice at once');
  sink.release();
  await settle();
  assert.deepEqual(sink.calls, ['create ConnectFailed 1', 'patch 51']);
  assert.equal(sink.only().count, 51);
  await r.stop();
});

test('a patch that finds the Event gone creates a new one with the full count', async () => {
  const { clock, sink, r } = recorder();
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  const firstName = sink.only().body.metadata.name;
  sink.events.clear(); // expired by the apiserver's TTL
  await clock.advance(1000);
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  assert.deepEqual(sink.calls, ['create ConnectFailed 1', 'patch 2', 'create ConnectFailed 2']);
  assert.notEqual(sink.only().body.metadata.name, firstName);
  assert.equal(sink.only().count, 2);
  await r.stop();
});

test('transient failures are retried with backoff; when attempts run out the occurrences are dropped', async () => {
  const { clock, sink, r } = recorder({ maxAttempts: 3 });
  sink.failures.push(500, 'transport');
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  assert.equal(sink.calls.length, 1);
  await clock.advance(1000);
  assert.equal(sink.calls.length, 2, 'retried after 1 s');
  await clock.advance(1999);
  assert.equal(sink.calls.length, 2);
  await clock.advance(1);
  assert.equal(sink.calls.length, 3, 'then after 2 s');
  assert.equal(sink.only().count, 1);
  assert.equal(r.stats().failedCalls, 2);

  sink.failures.push(503, 503, 503);
  r.event(other, 'Warning', 'ConnectFailed', 'refused');
  r.event(other, 'Warning', 'ConnectFailed', 'refused');
  await clock.advance(10_000);
  assert.equal(sink.calls.length, 6);
  assert.equal(r.stats().dropped, 2);
  assert.equal(r.pending(), 0);
  // The next occurrence tries again, with the true count.
  r.event(other, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  assert.equal(sink.calls.at(-1), 'create ConnectFailed 3');
  await r.stop();
});

test('occurrences recorded while a retry waits or is in flight are written by it or right after it', async () => {
  const { clock, sink, r } = recorder();
  sink.failures.push(500);
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await settle();
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused'); // while the retry waits
  await settle();
  assert.equal(sink.calls.length, 1, 'no call before the backoff');
  sink.hold();
  await clock.advance(1000);
  assert.deepEqual(sink.calls, ['create ConnectFailed 1', 'create ConnectFailed 2']);
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused'); // while the retry is in flight
  sink.release();
  await settle();
  assert.deepEqual(sink.calls, ['create ConnectFailed 1', 'create ConnectFailed 2', 'patch 3']);
  assert.equal(sink.only().count, 3);
  assert.equal(r.pending(), 0);
  await r.stop();
});

test('a permanent error (403) is not retried', async () => {
  const { clock, sink, r } = recorder();
  sink.failures.push(403);
  r.event(cluster, 'Warning', 'ConnectFailed', 'refused');
  await clock.advance(120_000);
  assert.equal(sink.calls.length, 1);
  assert.equal(r.stats().dropped, 1);
  assert.equal(sink.events.size, 0);
  await r.stop();
});

test('recording never throws and never waits: bad input, a hanging API, a full queue', async () => {
  const { clock, sink, r } = recorder({ maxPending: 100, cacheSize: 200 });
  r.event({ metadata: { name: 'x' } }, 'Warning', 'NoKind', 'list items lack kind');
  r.event(cluster, 'Error' as 'Warning', 'BadType', 'x');
  r.event(cluster, 'Normal', '', 'no reason');
  assert.equal(r.stats().dropped, 3);
  assert.equal(r.stats().recorded, 0);
  sink.hold();
  // event() is synchronous: all 2000 return while the first call hangs.
  for (let i = 0; i < 2000; i++) r.event(cluster, 'Warning', `Reason${i}`, `message ${i}`);
  assert.equal(r.pending(), 100);
  assert.equal(r.stats().recorded, 100);
  assert.equal(r.stats().dropped, 3 + 1900);
  await settle();
  assert.equal(sink.calls.length, 1, 'one writer, its call hangs');
  // stop() gives up after its timeout and cancels the call in flight.
  const stopped = r.stop(2_000);
  await clock.advance(2_000);
  await stopped;
  assert.equal(sink.aborted, 1);
  assert.equal(clock.pendingTimers, 0);
  r.event(cluster, 'Warning', 'AfterStop', 'dropped');
  assert.equal(r.stats().recorded, 100);
});

test('stop() writes what is ready, then resolves; deferred occurrences are counted as dropped', async () => {
  const { clock, sink, r } = recorder({ perObjectBurst: 1 });
  r.event(cluster, 'Warning', 'A', 'first');
  await settle();
  r.event(cluster, 'Warning', 'A', 'first'); // waits for a token (5 min)
  r.event(other, 'Normal', 'B', 'ready');
  await r.stop();
  assert.deepEqual(sink.calls.sort(), ['create A 1', 'create B 1']);
  assert.equal(r.stats().dropped, 1);
  assert.equal(clock.pendingTimers, 0);
});

test('messages are cut at 1024 characters; names stay valid for long object names; cluster-scoped objects go to default', async () => {
  const { sink, r } = recorder();
  const longName = `${'a'.repeat(240)}.b-c`;
  r.event({ apiVersion: 'v1', kind: 'Node', name: longName }, 'Normal', 'Long', 'x'.repeat(5000));
  await settle();
  const e = sink.only();
  assert.equal(e.message.length, MAX_MESSAGE_LENGTH);
  assert.ok(e.message.endsWith('...'));
  assert.ok(e.body.metadata.name.length <= 253, `${e.body.metadata.name.length} characters`);
  assert.match(e.body.metadata.name, /^a+\.[0-9a-f]+$/);
  assert.equal(e.body.metadata.namespace, 'default');
  assert.equal(e.body.involvedObject.namespace, undefined);
  await r.stop();
});

test('the fake recorder keeps client-go FakeRecorder lines', () => {
  const f = new FakeEventRecorder();
  f.event(cluster, 'Warning', 'InvalidSpec', 'endpoint has no port');
  assert.deepEqual(f.events, ['Warning InvalidSpec endpoint has no port']);
  assert.equal(f.subjects[0], cluster);
});

test('invalid recorder options are rejected', () => {
  const sink = new FakeSink();
  assert.throws(() => new CountingEventRecorder({ sink, component: '' }), /component must not be empty/);
  assert.throws(
    () => new CountingEventRecorder({ sink, component: 'c', maxPending: 10, cacheSize: 5 }),
    /cacheSize \(5\) must be an integer at least maxPending \(10\)/,
  );
  assert.throws(
    () => new CountingEventRecorder({ sink, component: 'c', perObjectBurst: 0 }),
    /perObjectBurst must be a positive integer/,
  );
  assert.throws(
    () => new CountingEventRecorder({ sink, component: 'c', perObjectRefillMs: 0 }),
    /perObjectRefillMs must be a positive duration/,
  );
});
