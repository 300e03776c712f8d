/**
 * The v2 member client against etcd 3.4 started with --enable-v2, and the
 * 'unsupported' answer where v2 is off (3.4 without the flag, 3.6).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { Secret } from '../../src/etcd/secret.ts';
import { EtcdError, memberIdHex, type EtcdV2MemberClient } from '../../src/etcd/types.ts';
import { createV2MemberClient } from '../../src/etcd/v2/client.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { optionsFor, rejectsWith } from './helpers.ts';

describe('etcd v2 member client', { concurrency: true }, () => {
  describe('on etcd 3.4 with --enable-v2', { concurrency: false }, () => {
    let cluster: TestCluster;
    let clients: EtcdV2MemberClient[] = [];

    before(async () => {
      cluster = await startEtcdCluster({ version: '3.4', members: 3, name: 'v2c', enableV2: true });
      clients = cluster.endpoints.map((e) => createV2MemberClient(parseEndpoint(e), optionsFor(cluster)));
    });

    after(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await cluster?.stop();
    });

    it('lists members and self stats like etcdctl and the v3 API', async () => {
      const listed = (await cluster.etcdctl(['member', 'list']))
        .trim()
        .split('\n')
        .map((l) => l.split(',').map((c) => c.trim()));
      for (const c of clients) {
        const members = await c.members();
        assert.deepEqual(members.map((m) => m.id).sort(), listed.map((cols) => cols[0]).sort());
        for (const m of members) {
          const row = listed.find((cols) => cols[0] === m.id);
          assert.equal(m.name, row?.[2]);
          assert.deepEqual(m.peerURLs, [row?.[3]]);
          assert.deepEqual(m.clientURLs, [row?.[4]]);
        }
      }
      const stats = await Promise.all(clients.map((c) => c.selfStats()));
      for (const [i, s] of stats.entries()) {
        const v3 = createV3MemberClient(parseEndpoint(cluster.endpoints[i]!), optionsFor(cluster));
        try {
          const st = await v3.status();
          assert.equal(s.id, memberIdHex(st.header.memberId));
          assert.equal(s.leaderId, memberIdHex(st.leader));
        } finally {
          v3.close();
        }
        assert.equal(s.name, cluster.members[i]?.name);
        assert.match(s.state, /^State(Leader|Follower)$/);
        assert.ok(!Number.isNaN(Date.parse(s.startTime)));
      }
      assert.equal(stats.filter((s) => s.state === 'StateLeader').length, 1);
    });

    it('counts leaf keys under a prefix at every level, with the store index', async () => {
      const [a, b] = clients as [EtcdV2MemberClient, EtcdV2MemberClient];
      const i1 = await a.set('/v2test/a', '1');
      const i2 = await a.set('/v2test/b/c', '2');
      const i3 = await a.set('v2test/b/d/e', '3'); // leading slash optional
      assert.equal(typeof i1, 'bigint');
      assert.ok(i1 < i2 && i2 < i3);
      const all = await a.countKeys('/v2test');
      assert.equal(all.keys, 3n);
      assert.ok(all.index >= i3);
      assert.equal((await a.countKeys('/v2test/b')).keys, 2n);
      assert.equal((await a.countKeys('/v2test/a')).keys, 1n, 'a key is its own single leaf');
      const none = await a.countKeys('/v2test/none');
      assert.equal(none.keys, 0n);
      assert.ok(none.index >= i3);
      assert.ok((await a.index()) >= i3);
      // Reads are served by each member: a follower converges to the same count.
      await eventually(async () => {
        const r = await b.countKeys('/v2test');
        return r.keys === 3n && r.index >= i3 ? r : undefined;
      }, 'the count on another member');
      const i4 = await a.delete('/v2test/b/c');
      assert.ok(i4 > i3);
      assert.equal((await a.countKeys('/v2test')).keys, 2n);
      await rejectsWith(a.delete('/v2test/b/c'), 'not_found');
    });

    it('a stopped member fails alone', async () => {
      await cluster.stopMember(1);
      try {
        const results = await Promise.allSettled(clients.map((c) => c.countKeys('/')));
        assert.equal(results[0]?.status, 'fulfilled');
        assert.equal(results[2]?.status, 'fulfilled');
        const failed = results[1];
        assert.ok(failed?.status === 'rejected' && failed.reason instanceof EtcdError);
        assert.equal(failed.reason.code, 'unavailable');
        assert.match(failed.reason.message, /^GET \/v2\/keys on 127\.0\.0\.1:\d+: connection refused/);
      } finally {
        await cluster.startMember(1);
      }
      await eventually(() => clients[1]!.index(), 'the member is back', 10_000);
    });
  });

  it('works over TLS with a client certificate; a wrong CA is a tls error', async () => {
    await using cluster = await startEtcdCluster({
      version: '3.4',
      members: 1,
      name: 'v2tls',
      enableV2: true,
      tls: true,
    });
    const endpoint = parseEndpoint(cluster.endpoints[0]!);
    const good = createV2MemberClient(endpoint, optionsFor(cluster));
    const wrongCa = createV2MemberClient(
      endpoint,
      optionsFor(cluster, {
        tls: { ca: cluster.tls!.otherCa, cert: cluster.tls!.cert, key: new Secret(cluster.tls!.key) },
      }),
    );
    const noCert = createV2MemberClient(endpoint, optionsFor(cluster, { tls: { ca: cluster.tls!.ca } }));
    try {
      await good.set('/tls/x', '1');
      assert.equal((await good.countKeys('/tls')).keys, 1n);
      assert.equal((await good.members()).length, 1);
      await rejectsWith(wrongCa.members(), 'tls');
      await rejectsWith(noCert.members(), 'tls');
    } finally {
      await Promise.all([good.close(), wrongCa.close(), noCert.close()]);
    }
  });

  for (const [version, enableV2] of [
    ['3.4', false],
    ['3.6', false],
  ] as const) {
    it(`etcd ${version} without --enable-v2 answers 'unsupported'`, async () => {
      await using cluster = await startEtcdCluster({
        version,
        members: 1,
        name: `nov2${version.replace('.', '')}`,
        enableV2,
      });
      const c = createV2MemberClient(parseEndpoint(cluster.endpoints[0]!), optionsFor(cluster));
      try {
        for (const call of [
          () => c.members(),
          () => c.countKeys('/'),
          () => c.index(),
          () => c.selfStats(),
        ]) {
          const err = await rejectsWith(call(), 'unsupported');
          assert.match(err.message, /v2 API is not enabled on this member.*--enable-v2/);
        }
      } finally {
        await c.close();
      }
    });
  }
});
