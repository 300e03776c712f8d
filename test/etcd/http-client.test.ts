/** /health and /version of real etcd 3.4 and 3.6 members. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { createHttpMemberClient } from '../../src/etcd/http/client.ts';
import { Secret } from '../../src/etcd/secret.ts';
import { EtcdError, type EtcdHttpMemberClient } from '../../src/etcd/types.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import { startEtcdCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { closedPort, optionsFor, rejectsWith, silentServer } from './helpers.ts';
import { smallQuotaCluster } from '../support/clusters.ts';

const VERSIONS = ['3.4', '3.6'] as const;

describe('etcd HTTP member client', { concurrency: true }, () => {
  for (const version of VERSIONS) {
    it(`etcd ${version}: healthy members, /version, and a stopped member`, async () => {
      await using cluster = await startEtcdCluster({
        version,
        members: 3,
        name: `http${version.replace('.', '')}`,
      });
      const clients = cluster.endpoints.map((e) =>
        createHttpMemberClient(parseEndpoint(e), optionsFor(cluster)),
      );
      try {
        for (const c of clients) {
          assert.deepEqual(await c.health(), { healthy: true, reason: '', httpStatus: 200 });
          assert.deepEqual(await c.health({ serializable: true, exclude: ['NOSPACE'] }), {
            healthy: true,
            reason: '',
            httpStatus: 200,
          });
          const v = await c.version();
          assert.equal(v.etcdserver, cluster.binaryVersion);
          assert.equal(v.etcdcluster, `${version}.0`);
        }
        await cluster.stopMember(2);
        const results = await Promise.allSettled(clients.map((c) => c.health()));
        assert.deepEqual(results[0], {
          status: 'fulfilled',
          value: { healthy: true, reason: '', httpStatus: 200 },
        });
        assert.equal(results[1]?.status, 'fulfilled');
        const failed = results[2];
        assert.ok(failed?.status === 'rejected' && failed.reason instanceof EtcdError);
        assert.equal(failed.reason.code, 'unavailable');
        assert.match(failed.reason.message, /^GET \/health on 127\.0\.0\.1:\d+: connection refused/);
        await cluster.startMember(2);
        // The same client (and its connection pool) works again.
        await eventually(
          async () => ((await clients[2]!.health()).healthy ? true : undefined),
          'the restarted member is healthy',
        );
      } finally {
        await Promise.all(clients.map((c) => c.close()));
      }
    });

    it(`etcd ${version}: a NOSPACE alarm makes /health unhealthy`, async () => {
      await using cluster = await smallQuotaCluster(version, `httpns${version.replace('.', '')}`);
      const http = createHttpMemberClient(parseEndpoint(cluster.endpoints[0]!), optionsFor(cluster));
      const v3 = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), optionsFor(cluster));
      try {
        const value = Buffer.alloc(256 * 1024, 'x');
        await eventually(
          async () => {
            await v3.put(`/big/${Math.floor(Math.random() * 4)}`, value).catch(() => undefined);
            return (await v3.alarmList()).length > 0 ? true : undefined;
          },
          'the NOSPACE alarm',
          30_000,
          0,
        );
        const h = await http.health();
        assert.equal(h.healthy, false);
        assert.equal(h.httpStatus, 503);
        // 3.5+ names the alarm; 3.4 answers {"health":"false"} without a reason.
        if (version === '3.6') assert.match(h.reason, /NOSPACE/);
        else assert.equal(h.reason, '');
        assert.equal((await http.health({ serializable: true })).healthy, false);
        // Both leave the alarm out when asked (3.4.23 has the parameter too).
        assert.deepEqual(await http.health({ exclude: ['NOSPACE'] }), {
          healthy: true,
          reason: '',
          httpStatus: 200,
        });
      } finally {
        v3.close();
        await http.close();
      }
    });
  }

  it('TLS: client certificate, wrong CA, no client certificate, server name', async () => {
    await using cluster = await startEtcdCluster({ version: '3.6', members: 1, name: 'httptls', tls: true });
    const endpoint = parseEndpoint(cluster.endpoints[0]!);
    const tls = cluster.tls!;
    const clients: EtcdHttpMemberClient[] = [];
    const open = (o: Parameters<typeof optionsFor>[1]) => {
      const c = createHttpMemberClient(endpoint, optionsFor(cluster, o));
      clients.push(c);
      return c;
    };
    try {
      assert.equal((await open({}).health()).healthy, true);
      assert.equal(
        (
          await open({
            tls: { ca: tls.ca, cert: tls.cert, key: new Secret(tls.key), serverName: 'localhost' },
          }).version()
        ).etcdserver,
        cluster.binaryVersion,
      );
      const e1 = await rejectsWith(
        open({ tls: { ca: tls.otherCa, cert: tls.cert, key: new Secret(tls.key) } }).health(),
        'tls',
      );
      assert.match(e1.message, /^GET \/health on 127\.0\.0\.1:\d+: TLS handshake failed: .*certificate/);
      const e2 = await rejectsWith(open({ tls: { ca: tls.ca } }).health(), 'tls');
      assert.match(e2.message, /client certificate/);
      await rejectsWith(
        open({
          tls: { ca: tls.ca, cert: tls.cert, key: new Secret(tls.key), serverName: 'wrong.example' },
        }).health(),
        'tls',
      );
      assert.equal(
        (await open({ tls: { cert: tls.cert, key: new Secret(tls.key), insecureSkipVerify: true } }).health())
          .healthy,
        true,
      );
    } finally {
      await Promise.all(clients.map((c) => c.close()));
    }
  });

  it('unreachable endpoints, deadlines, aborts and close()', async () => {
    const opts = { dialTimeoutMs: 1_000, requestTimeoutMs: 1_500 };
    const silent = await silentServer();
    const refused = createHttpMemberClient(parseEndpoint(`http://127.0.0.1:${await closedPort()}`), opts);
    const hanging = createHttpMemberClient(parseEndpoint(`http://127.0.0.1:${silent.port}`), opts);
    const hangingTls = createHttpMemberClient(parseEndpoint(`https://127.0.0.1:${silent.port}`), {
      ...opts,
      requestTimeoutMs: 5_000,
    });
    try {
      // Refused at once: unavailable (a wait for the deadline would be a timeout).
      await rejectsWith(refused.health(), 'unavailable');
      // TCP connects but nothing answers: the request deadline.
      const e = await rejectsWith(hanging.health(), 'timeout');
      assert.match(e.message, /no answer within 1500 ms/);
      // The TLS handshake never completes: the dial timeout (1 s), not the request deadline (5 s), ends it.
      const tls = await rejectsWith(hangingTls.health(), 'unavailable');
      assert.doesNotMatch(tls.message, /no answer within/);
      await rejectsWith(hanging.version({ timeoutMs: 200 }), 'timeout');
      await rejectsWith(hanging.health({ signal: AbortSignal.abort() }), 'canceled');
      // Aborted while waiting, long before its own deadline.
      const ac = new AbortController();
      const waiting = hanging.health({ signal: ac.signal, timeoutMs: 60_000 });
      setTimeout(() => ac.abort(), 100);
      await rejectsWith(waiting, 'canceled');
    } finally {
      await Promise.all([refused.close(), hanging.close(), hangingTls.close()]);
      await silent.close();
    }
    const closed = await rejectsWith(refused.health(), 'canceled');
    assert.match(closed.message, /client is closed/);
  });
});
