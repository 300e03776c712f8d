/**
 * The event recorder on a real kube-apiserver, as a ServiceAccount whose
 * Role grants only create and patch on events: deduplication into one Event
 * with the true count, separate Events for different messages, the rate
 * limit bounding API calls, and an Event deleted under the recorder.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CountingEventRecorder,
  KubeEventSink,
  type EventBody,
  type EventPatch,
  type EventRecorderOptions,
  type EventSink,
} from '../../src/k8s/events.ts';
import { eventually } from '../../src/testing/wait.ts';
import { suiteApiserverAsOperator, type RoleRule } from './helpers.ts';

interface CoreEvent {
  metadata: { name: string; namespace: string };
  involvedObject: { apiVersion?: string; kind?: string; name?: string; namespace?: string; uid?: string };
  reason: string;
  message: string;
  type: string;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
  source: { component?: string; host?: string };
  reportingComponent?: string;
  reportingInstance?: string;
}

/** Counts the calls that reach the API. */
class CountingSink implements EventSink {
  creates = 0;
  patches = 0;
  readonly #inner: EventSink;
  constructor(inner: EventSink) {
    this.#inner = inner;
  }
  get calls(): number {
    return this.creates + this.patches;
  }
  create(e: EventBody, signal: AbortSignal): Promise<void> {
    this.creates++;
    return this.#inner.create(e, signal);
  }
  patch(namespace: string, name: string, p: EventPatch, signal: AbortSignal): Promise<void> {
    this.patches++;
    return this.#inner.patch(namespace, name, p, signal);
  }
}

/** All the event recorder needs: create and patch Events. */
const EVENTS_RULE: RoleRule = {
  apiGroup: '',
  resources: ['events'],
  verbs: ['create', 'patch'],
};

describe('event recorder on a real kube-apiserver', () => {
  const recorders: CountingEventRecorder[] = [];
  const bed = suiteApiserverAsOperator('events', EVENTS_RULE, () =>
    Promise.allSettled(recorders.map((r) => r.stop())),
  );

  function recorder(opts: Partial<EventRecorderOptions> = {}): {
    recorder: CountingEventRecorder;
    sink: CountingSink;
  } {
    const sink = new CountingSink(new KubeEventSink(bed.kube.events));
    const r = new CountingEventRecorder({
      sink,
      component: 'etcdcluster-controller',
      instance: 'operator-0',
      ...opts,
    });
    recorders.push(r);
    return { recorder: r, sink };
  }

  /** A real object to attach Events to (a ConfigMap standing in for an EtcdCluster). */
  async function subject(name: string): Promise<{
    apiVersion: string;
    kind: string;
    metadata: { name: string; namespace: string; uid: string };
  }> {
    const res = await bed.server.request('POST', `/api/v1/namespaces/${bed.namespace}/configmaps`, {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name },
    });
    assert.equal(res.status, 201);
    const uid = (res.body as { metadata: { uid: string } }).metadata.uid;
    return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: bed.namespace, uid } };
  }

  async function eventsFor(uid: string): Promise<CoreEvent[]> {
    const res = await bed.server.request(
      'GET',
      `/api/v1/namespaces/${bed.namespace}/events?fieldSelector=involvedObject.uid%3D${uid}`,
    );
    assert.equal(res.status, 200);
    return (res.body as { items: CoreEvent[] }).items;
  }

  async function settled(r: CountingEventRecorder): Promise<void> {
    await eventually(() => r.pending() === 0, 'the recorder to write everything', 10_000);
  }

  it('100 identical failures become one Event with count 100, in a bounded number of calls', async () => {
    const obj = await subject('hundred');
    const { recorder: r, sink } = recorder();
    // Ten reconcile rounds of ten failures, each round a few ms apart.
    for (let round = 0; round < 10; round++) {
      for (let i = 0; i < 10; i++)
        r.event(obj, 'Warning', 'ConnectFailed', 'dial tcp 10.0.0.1:2379: connect: connection refused');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await settled(r);
    const events = await eventsFor(obj.metadata.uid);
    assert.equal(events.length, 1);
    const e = events[0] as CoreEvent;
    assert.equal(e.count, 100);
    assert.equal(e.type, 'Warning');
    assert.equal(e.reason, 'ConnectFailed');
    assert.equal(e.message, 'dial tcp 10.0.0.1:2379: connect: connection refused');
    assert.deepEqual(
      {
        apiVersion: e.involvedObject.apiVersion,
        kind: e.involvedObject.kind,
        name: e.involvedObject.name,
        namespace: e.involvedObject.namespace,
      },
      { apiVersion: 'v1', kind: 'ConfigMap', name: 'hundred', namespace: bed.namespace },
    );
    assert.deepEqual(e.source, { component: 'etcdcluster-controller', host: 'operator-0' });
    assert.equal(e.reportingComponent, 'etcdcluster-controller');
    assert.equal(e.reportingInstance, 'operator-0');
    assert.ok(Date.parse(e.lastTimestamp) >= Date.parse(e.firstTimestamp));
    assert.equal(sink.creates, 1);
    assert.ok(sink.calls <= 11, `${sink.calls} API calls for 100 occurrences`);
  });

  it('different messages make separate Events, each with its own count', async () => {
    const obj = await subject('messages');
    const { recorder: r } = recorder();
    for (let i = 0; i < 3; i++) {
      r.event(obj, 'Warning', 'MemberUnhealthy', 'member m0 is unhealthy');
      r.event(obj, 'Warning', 'MemberUnhealthy', 'member m1 is unhealthy');
    }
    r.event(obj, 'Normal', 'Synced', 'status updated');
    await settled(r);
    const got = (await eventsFor(obj.metadata.uid))
      .map((e) => `${e.type} ${e.reason} ${e.message} ×${e.count}`)
      .sort();
    assert.deepEqual(got, [
      'Normal Synced status updated ×1',
      'Warning MemberUnhealthy member m0 is unhealthy ×3',
      'Warning MemberUnhealthy member m1 is unhealthy ×3',
    ]);
  });

  it('the rate limit holds back calls for a flooding object, then writes the true count', async () => {
    const obj = await subject('flood');
    const { recorder: r, sink } = recorder({ perObjectBurst: 3, perObjectRefillMs: 5_000 });
    for (let i = 0; i < 100; i++) {
      r.event(obj, 'Warning', 'ConnectFailed', 'refused');
      // The first three wait for their own write (three calls, the whole burst); the rest arrive while the bucket is empty.
      await eventually(() => sink.calls >= Math.min(i + 1, 3), 'the write in flight', 5_000);
    }
    // A token comes back only 5 s after the burst: room for a loaded machine, no sleep needed.
    assert.equal(sink.calls, 3, 'no call before a token comes back');
    // The third call has started; on a loaded machine its write may still be on its way.
    await eventually(
      async () => ((await eventsFor(obj.metadata.uid))[0] as CoreEvent | undefined)?.count === 3,
      'the burst written (count 3)',
    );
    assert.equal(sink.calls, 3, 'still no call before a token comes back');
    await eventually(() => r.pending() === 0, 'a token and the deferred write', 30_000);
    assert.equal(sink.calls, 4);
    const e = (await eventsFor(obj.metadata.uid))[0] as CoreEvent;
    assert.equal(e.count, 100);
  });

  it('an Event deleted under the recorder is created again with the running count', async () => {
    const obj = await subject('expired');
    const { recorder: r, sink } = recorder();
    r.event(obj, 'Warning', 'InvalidSpec', 'spec.endpoints[0] has no port');
    await settled(r);
    const [first] = await eventsFor(obj.metadata.uid);
    const del = await bed.server.request(
      'DELETE',
      `/api/v1/namespaces/${bed.namespace}/events/${first?.metadata.name}`,
    );
    assert.equal(del.status, 200);
    r.event(obj, 'Warning', 'InvalidSpec', 'spec.endpoints[0] has no port');
    await settled(r);
    const events = await eventsFor(obj.metadata.uid);
    assert.equal(events.length, 1);
    assert.notEqual(events[0]?.metadata.name, first?.metadata.name);
    assert.equal(events[0]?.count, 2);
    assert.deepEqual({ creates: sink.creates, patches: sink.patches }, { creates: 2, patches: 1 });
    assert.equal(r.stats().dropped, 0);
  });

  it('stop() returns promptly and later events are ignored without throwing', async () => {
    const obj = await subject('stopped');
    const { recorder: r, sink } = recorder();
    r.event(obj, 'Normal', 'Started', 'inspection started');
    await r.stop();
    assert.equal(sink.calls, 1, 'the ready event was written before stopping');
    r.event(obj, 'Normal', 'Late', 'after stop');
    assert.equal((await eventsFor(obj.metadata.uid)).length, 1);
  });
});
