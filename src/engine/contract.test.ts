import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEndpoint } from '../etcd/endpoint.ts';
import type { EtcdV2MemberClient, EtcdV3MemberClient } from '../etcd/types.ts';
import {
  defineFeature,
  failedOutcome,
  OptionsError,
  v2ReadView,
  v3ReadView,
  type ClusterHandle,
  type InspectionOutcome,
} from './contract.ts';

/** A client whose every call records its name and the object it was called on. */
function recordingClient<T>(calls: string[], names: readonly string[]): T {
  const client: Record<string, unknown> = { endpoint: parseEndpoint('http://127.0.0.1:2379') };
  for (const name of names) {
    client[name] = function (this: unknown) {
      calls.push(`${name}${this === client ? '' : ' (unbound)'}`);
    };
  }
  return client as T;
}

test('the v3 view a feature gets has the read calls only, bound to the client', () => {
  const calls: string[] = [];
  const client = recordingClient<EtcdV3MemberClient>(calls, [
    'memberList',
    'status',
    'alarmList',
    'alarmDisarm',
    'alarmActivate',
    'range',
    'rangePages',
    'hashKV',
    'put',
    'deleteRange',
    'compact',
    'defragment',
    'watch',
    'close',
  ]);
  const view = v3ReadView(client);
  assert.deepEqual(Object.keys(view).sort(), [
    'alarmList',
    'endpoint',
    'hashKV',
    'memberList',
    'range',
    'rangePages',
    'status',
    'watch',
  ]);
  const asRecord = view as unknown as Record<string, unknown>;
  for (const write of [
    'put',
    'deleteRange',
    'compact',
    'defragment',
    'alarmDisarm',
    'alarmActivate',
    'close',
  ])
    assert.equal(asRecord[write], undefined, write);
  void view.status();
  void view.range({ key: 'a' });
  assert.deepEqual(calls, ['status', 'range']);
  assert.ok(Object.isFrozen(view));
});

test('the v2 view a feature gets cannot set or delete', () => {
  const calls: string[] = [];
  const view = v2ReadView(
    recordingClient<EtcdV2MemberClient>(calls, [
      'members',
      'selfStats',
      'index',
      'countKeys',
      'set',
      'delete',
      'close',
    ]),
  );
  assert.deepEqual(Object.keys(view).sort(), ['countKeys', 'endpoint', 'index', 'members', 'selfStats']);
});

test('failedOutcome: a round without a verdict, its error as the summary unless one is given', () => {
  assert.deepEqual(failedOutcome('no members known'), {
    ok: false,
    error: 'no members known',
    summary: 'failed: no members known',
    problems: [],
    details: null,
    metrics: [],
  });
  const partial = failedOutcome('x: timeout', { summary: 'no verdict: x: timeout', details: { a: 1 } });
  assert.equal(partial.summary, 'no verdict: x: timeout');
  assert.deepEqual(partial.details, { a: 1 });
});

test('defineFeature: the declaration becomes the Feature; metrics listed, both backends by default', () => {
  const metric = { name: 'inspection_x', type: 'gauge', help: 'x', labels: [] } as const;
  const feature = defineFeature({
    name: 'x',
    description: 'an example',
    defaultIntervalSeconds: 30,
    metrics: { metric },
    inspect: async () => failedOutcome('unused'),
  });
  assert.equal(feature.name, 'x');
  assert.deepEqual(feature.backends, ['v3', 'v2']);
  assert.deepEqual(feature.metrics, [metric]);
  assert.ok(Object.isFrozen(feature));
  const v3Only = defineFeature({ ...feature, metrics: {}, backends: ['v3'], open: feature.open });
  assert.deepEqual(v3Only.backends, ['v3']);
});

test('defineFeature: a feature without parseOptions takes none and names what it was given', () => {
  const feature = defineFeature({
    name: 'plain',
    description: 'no options',
    defaultIntervalSeconds: 30,
    metrics: {},
    inspect: async () => failedOutcome('unused'),
  });
  assert.deepEqual(feature.parseOptions(undefined), {});
  assert.deepEqual(feature.parseOptions({}), {});
  assert.throws(
    () => feature.parseOptions({ a: 1, b: 2 }),
    (err: unknown) =>
      err instanceof OptionsError &&
      err.message === 'options of feature plain: unknown field a; unknown field b',
  );
});

test('defineFeature: inspect() gets the cluster, the round signal and the parsed options', async () => {
  const seen: unknown[] = [];
  const outcome: InspectionOutcome = { ok: true, summary: 's', problems: [], details: null, metrics: [] };
  const feature = defineFeature<{ n: number }>({
    name: 'stateless',
    description: 'keeps nothing between rounds',
    defaultIntervalSeconds: 30,
    metrics: {},
    parseOptions: () => ({ n: 1 }),
    inspect: async (cluster, signal, options) => {
      seen.push(cluster, signal, options);
      return outcome;
    },
  });
  const cluster = { requestTimeoutMs: 1 } as ClusterHandle;
  const session = feature.open(cluster, feature.parseOptions(undefined));
  const signal = new AbortController().signal;
  assert.equal(await session.inspect(signal), outcome);
  assert.deepEqual(seen, [cluster, signal, { n: 1 }]);
  await session.close();
});
