import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseEndpoint } from '../etcd/endpoint.ts';
import type { EtcdV2MemberClient, EtcdV3MemberClient } from '../etcd/types.ts';
import { failedOutcome, v2ReadView, v3ReadView } from './contract.ts';

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
