import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint } from '../etcd/endpoint.ts';
import { Secret } from '../etcd/secret.ts';
import type { EtcdHttpMemberClient, MetricsOptions, MetricsText } from '../etcd/types.ts';
import type { ClientFactory } from './connection.ts';
import { SharedClients } from './shared-clients.ts';
import { FakeCluster, fakeClients } from '../testing/fake-etcd.ts';

test('clients are shared per member and credentials, and closed when the last user releases them', async () => {
  const cluster = new FakeCluster(3000, 1);
  const shared = new SharedClients(fakeClients([cluster]));
  const endpoint = parseEndpoint(cluster.members[0]!.url);
  const options = {
    dialTimeoutMs: 1000,
    requestTimeoutMs: 1000,
    auth: { username: 'u', password: new Secret('a') },
  };

  const a = shared.v3(endpoint, options);
  const b = shared.v3(endpoint, { ...options, auth: { username: 'u', password: new Secret('a') } });
  const c = shared.v3(endpoint, { ...options, auth: { username: 'u', password: new Secret('b') } });
  assert.equal(cluster.opened.length, 2, 'same credentials share, other credentials do not');
  assert.equal((await a.status()).header.memberId, cluster.members[0]!.id, 'calls reach the shared client');

  a.close();
  a.close(); // a second close of one handle must not release another user's reference
  assert.deepEqual(cluster.closed, []);
  b.close();
  assert.deepEqual(cluster.closed, ['v3@127.0.0.1:3000']);
  c.close();
  assert.equal(cluster.closed.length, 2);
  assert.equal(shared.size, 0);

  const own = shared.dedicatedV3(endpoint, options);
  const own2 = shared.dedicatedV3(endpoint, options);
  assert.equal(cluster.opened.length, 4, 'dedicated clients are never shared');
  own.close();
  own2.close();
});

/** An http client whose /metrics answers wait for release(); counts requests and the aborted ones. */
function slowMetrics() {
  const calls: { signal: AbortSignal | undefined; release: (text: string) => void }[] = [];
  const client = {
    endpoint: parseEndpoint('http://127.0.0.1:2379'),
    health: () => Promise.reject(new Error('not used')),
    version: () => Promise.reject(new Error('not used')),
    metrics: (opts?: MetricsOptions) =>
      new Promise<MetricsText>((resolve, reject) => {
        opts?.signal?.addEventListener('abort', () => reject(new Error('aborted')));
        calls.push({ signal: opts?.signal, release: (text) => resolve({ text, bytes: text.length }) });
      }),
    close: async () => {},
  } satisfies EtcdHttpMemberClient;
  const factory: ClientFactory = {
    v3: () => assert.fail('not used'),
    v2: () => assert.fail('not used'),
    http: () => client,
  };
  return { shared: new SharedClients(factory), calls, endpoint: client.endpoint };
}

const OPTIONS = { dialTimeoutMs: 1000, requestTimeoutMs: 1000 };

test('/metrics of a member named by several clusters: one reading shared while it is fresh', async () => {
  const { shared, calls, endpoint } = slowMetrics();
  const a = shared.http(endpoint, OPTIONS);
  const b = shared.http(endpoint, OPTIONS);
  // Asked at the same time: one request.
  const first = [a.metrics({ maxAgeMs: 60_000 }), b.metrics({ maxAgeMs: 60_000 })];
  assert.equal(calls.length, 1);
  calls[0]!.release('one');
  assert.deepEqual(
    (await Promise.all(first)).map((m) => m.text),
    ['one', 'one'],
  );
  // Asked later, within the age allowed: the kept answer, with its age.
  const kept = await b.metrics({ maxAgeMs: 60_000 });
  assert.equal(calls.length, 1);
  assert.equal(kept.text, 'one');
  assert.ok(kept.ageMs !== undefined && kept.ageMs >= 0);
  // No age allowed, or no maxAgeMs at all: a new request each.
  const fresh = a.metrics({ maxAgeMs: 0 });
  const direct = a.metrics();
  assert.equal(calls.length, 3);
  calls[1]!.release('two');
  calls[2]!.release('three');
  assert.equal((await fresh).text, 'two');
  assert.equal((await direct).text, 'three');
  assert.equal((await a.metrics({ maxAgeMs: 60_000 })).text, 'two', 'the newest shared reading is kept');
  assert.equal(calls.length, 3);

  // One caller giving up does not fail the others; the request stops when the last one leaves.
  const gone = new AbortController();
  const leaving = a.metrics({ maxAgeMs: 0, signal: gone.signal });
  const staying = b.metrics({ maxAgeMs: 0 });
  gone.abort(new Error('round deadline'));
  await assert.rejects(leaving, /round deadline/);
  assert.equal(calls[3]!.signal?.aborted, false);
  calls[3]!.release('four');
  assert.equal((await staying).text, 'four');
  const alone = new AbortController();
  const abandoned = a.metrics({ maxAgeMs: 0, signal: alone.signal });
  alone.abort(new Error('gone'));
  await assert.rejects(abandoned, /gone/);
  assert.equal(calls[4]!.signal?.aborted, true);

  // A member only one user names keeps nothing between reads.
  b.close();
  const once = a.metrics({ maxAgeMs: 0 });
  calls[5]!.release('five');
  await once;
  const again = a.metrics({ maxAgeMs: 60_000 });
  assert.equal(calls.length, 7);
  calls[6]!.release('six');
  assert.equal((await again).text, 'six');
  a.close();
  assert.equal(shared.size, 0);
});
