import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint } from '../etcd/endpoint.ts';
import { Secret } from '../etcd/secret.ts';
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
