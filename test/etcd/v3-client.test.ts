/**
 * The v3 member client against real etcd 3.4 and 3.6 clusters: every call,
 * watches, TLS, auth with token expiry, failures that belong to one member.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { setImmediate, setTimeout as sleep } from 'node:timers/promises';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { Secret } from '../../src/etcd/secret.ts';
import {
  EtcdError,
  memberIdHex,
  prefixEnd,
  type EtcdV3MemberClient,
  type WatchEvent,
  type WatchMessage,
} from '../../src/etcd/types.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import {
  closedPort,
  optionsFor,
  progressNotifyFlag,
  readWatch,
  rejectsWith,
  settlesWithin,
  silentServer,
} from './helpers.ts';
import { smallQuotaCluster } from '../support/clusters.ts';

const VERSIONS = ['3.4', '3.6'] as const;

function events(messages: readonly WatchMessage[]): WatchEvent[] {
  return messages.flatMap((m) => (m.kind === 'events' ? m.events : []));
}

/** "endpoint, id, ..." lines of `etcdctl endpoint status` / `member list` (hex IDs, as etcdctl prints them). */
function etcdctlColumns(out: string): string[][] {
  return out
    .trim()
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => l.split(',').map((c) => c.trim()));
}

// Deprecation codes Node emitted in this process (each code is emitted once per process).
const deprecations = new Set<string>();
process.on('warning', (w: Error & { code?: string }) => {
  if (w.code !== undefined) deprecations.add(w.code);
});

describe('etcd v3 member client', { concurrency: true }, () => {
  for (const version of VERSIONS) {
    describe(`on etcd ${version}`, { concurrency: false }, () => {
      let cluster: TestCluster;
      let clients: EtcdV3MemberClient[] = [];

      before(async () => {
        cluster = await startEtcdCluster({
          version,
          members: 3,
          name: `v3c${version.replace('.', '')}`,
          extraArgs: [progressNotifyFlag(version, '500ms')],
        });
        clients = cluster.endpoints.map((e) => createV3MemberClient(parseEndpoint(e), optionsFor(cluster)));
      });

      after(async () => {
        for (const c of clients) c.close();
        await cluster?.stop();
      });

      it('status, member list and alarms per member, with member IDs as etcdctl prints them', async () => {
        // 3.6 moves its storage version to 3.6 only once the cluster version is settled, shortly after start.
        const statuses = await eventually(async () => {
          const all = await Promise.all(clients.map((c) => c.status()));
          return version !== '3.6' || all.every((st) => /^3\.6\./.test(st.storageVersion)) ? all : undefined;
        }, 'every member reporting its status (3.6: with a storage version)');
        const idByEndpoint = new Map(
          etcdctlColumns(await cluster.etcdctl(['endpoint', 'status'])).map((cols) => [cols[0], cols[1]]),
        );
        const ids = new Set<bigint>();
        for (const [i, st] of statuses.entries()) {
          assert.equal(typeof st.header.memberId, 'bigint');
          assert.equal(memberIdHex(st.header.memberId), idByEndpoint.get(cluster.endpoints[i]));
          assert.equal(st.version, cluster.binaryVersion);
          assert.equal(st.header.clusterId, statuses[0]?.header.clusterId);
          assert.ok(st.dbSize > 0n && st.dbSizeInUse > 0n);
          assert.ok(st.raftIndex > 0n && st.raftAppliedIndex > 0n && st.raftTerm > 0n);
          assert.deepEqual(st.errors, []);
          assert.equal(st.isLearner, false);
          if (version === '3.6') {
            assert.equal(st.dbSizeQuota, 2n * 1024n * 1024n * 1024n, 'default --quota-backend-bytes');
            assert.match(st.storageVersion, /^3\.6\./);
          } else {
            assert.equal(st.dbSizeQuota, 0n);
            assert.equal(st.storageVersion, '');
          }
          ids.add(st.header.memberId);
        }
        assert.equal(ids.size, 3);
        const leaders = new Set(statuses.map((s) => s.leader));
        assert.equal(leaders.size, 1);
        assert.ok(ids.has([...leaders][0] ?? 0n));

        const listed = etcdctlColumns(await cluster.etcdctl(['member', 'list'])).map((cols) => cols[0]);
        for (const c of clients) {
          const ml = await c.memberList();
          assert.deepEqual(ml.members.map((m) => memberIdHex(m.id)).sort(), [...listed].sort());
          assert.deepEqual(new Set(ml.members.map((m) => m.id)), ids);
          for (const m of ml.members) {
            assert.match(m.name, /^v3c/);
            assert.equal(m.isLearner, false);
            assert.equal(m.clientURLs.length, 1);
          }
          assert.deepEqual(await c.alarmList(), []);
        }
      });

      it('put, range (single, prefix, count-only, keys-only, limit, serializable, at a revision), deleteRange', async () => {
        const [a, , c] = clients as [EtcdV3MemberClient, EtcdV3MemberClient, EtcdV3MemberClient];
        const p = '/range/';
        const h1 = await a.put(`${p}a`, 'v1');
        const h2 = await a.put(`${p}b`, Buffer.from([0, 1, 2]));
        await a.put(`${p}c`, 'v3');
        assert.equal(h2.revision, h1.revision + 1n);

        const one = await a.range({ key: `${p}b` });
        assert.equal(one.kvs.length, 1);
        assert.deepEqual(one.kvs[0]?.value, Buffer.from([0, 1, 2]));
        assert.equal(one.kvs[0]?.modRevision, h2.revision);
        assert.equal(one.kvs[0]?.createRevision, h2.revision);
        assert.equal(one.kvs[0]?.version, 1n);
        assert.equal(one.kvs[0]?.lease, 0n);

        const counted = await a.range({ key: p, rangeEnd: prefixEnd(p), countOnly: true });
        assert.equal(counted.count, 3n);
        assert.equal(counted.kvs.length, 0);

        const keys = await a.range({ key: p, rangeEnd: prefixEnd(p), keysOnly: true });
        assert.deepEqual(
          keys.kvs.map((kv) => kv.key.toString()),
          [`${p}a`, `${p}b`, `${p}c`],
        );
        assert.ok(keys.kvs.every((kv) => kv.value.length === 0));

        const limited = await a.range({ key: p, rangeEnd: prefixEnd(p), limit: 2n });
        assert.equal(limited.kvs.length, 2);
        assert.equal(limited.more, true);
        assert.equal(limited.count, 3n);

        // A serializable read is answered by the member itself: poll until it applied the writes.
        await eventually(async () => {
          const r = await c.range({ key: p, rangeEnd: prefixEnd(p), serializable: true, countOnly: true });
          return r.count === 3n ? r : undefined;
        }, 'serializable read on a follower');

        await a.put(`${p}a`, 'v1-new');
        const old = await a.range({ key: `${p}a`, revision: h1.revision });
        assert.equal(old.kvs[0]?.value.toString(), 'v1');
        const cur = await a.range({ key: `${p}a` });
        assert.equal(cur.kvs[0]?.value.toString(), 'v1-new');
        assert.equal(cur.kvs[0]?.version, 2n);

        const del = await a.deleteRange(p, prefixEnd(p));
        assert.equal(del.deleted, 3n);
        assert.equal((await a.range({ key: p, rangeEnd: prefixEnd(p), countOnly: true })).count, 0n);
        const single = await a.deleteRange(`${p}none`);
        assert.equal(single.deleted, 0n);
      });

      it('pages through a range pinned to the first page revision while writes go on', async () => {
        const [writer, reader] = clients as [EtcdV3MemberClient, EtcdV3MemberClient];
        const p = '/pages/';
        const key = (i: number) => `${p}k${String(i).padStart(3, '0')}`;
        const initial: string[] = [];
        for (let i = 0; i < 120; i += 2) {
          await writer.put(key(i), `v${i}`);
          initial.push(key(i));
        }
        let pinned = 0n;
        const seen: string[] = [];
        let pages = 0;
        for await (const page of reader.rangePages({
          key: p,
          rangeEnd: prefixEnd(p),
          pageSize: 7,
          keysOnly: true,
        })) {
          pages++;
          if (pinned === 0n) pinned = page.header.revision;
          assert.ok(page.kvs.length <= 7);
          for (const kv of page.kvs) {
            assert.ok(kv.modRevision <= pinned);
            seen.push(kv.key.toString());
          }
          // Between two pages: a new key inside the part still to come, and a deletion there.
          await writer.put(key(2 * pages * 7 + 1), 'new');
          await writer.deleteRange(key(2 * pages * 7 + 4));
        }
        assert.equal(pages, Math.ceil(initial.length / 7));
        assert.deepEqual(seen, initial);
        // The same keyspace in one request at the pinned revision; the latest one differs.
        const atPin = await reader.range({
          key: p,
          rangeEnd: prefixEnd(p),
          keysOnly: true,
          revision: pinned,
        });
        assert.deepEqual(
          atPin.kvs.map((kv) => kv.key.toString()),
          initial,
        );
        const latest = await reader.range({ key: p, rangeEnd: prefixEnd(p), keysOnly: true });
        assert.notDeepEqual(
          latest.kvs.map((kv) => kv.key.toString()),
          initial,
        );
        await writer.deleteRange(p, prefixEnd(p));
      });

      it('watch delivers the exact events from a start revision, then live ones', async () => {
        const [writer, , watcher] = clients as [EtcdV3MemberClient, EtcdV3MemberClient, EtcdV3MemberClient];
        const p = '/watch/';
        const r1 = (await writer.put(`${p}k1`, 'a')).revision;
        const r2 = (await writer.put(`${p}k2`, 'b')).revision;
        const r3 = (await writer.put(`${p}k1`, 'c')).revision;
        const r4 = (await writer.deleteRange(`${p}k2`)).header.revision;
        await writer.put('/elsewhere', 'x'); // outside the range: not delivered
        // The live write starts once the history is delivered; its event may arrive before its answer.
        let livePut: Promise<bigint> | undefined;
        const messages = await readWatch(
          (signal) =>
            watcher.watch(
              {
                key: p,
                rangeEnd: prefixEnd(p),
                startRevision: r1,
                prevKv: true,
                requireLeader: true,
                progressNotify: true,
              },
              signal,
            ),
          (msgs) => {
            const n = events(msgs).length;
            if (n === 4) livePut ??= writer.put(`${p}k3`, 'live').then((h) => h.revision);
            return n >= 5;
          },
        );
        const live = await livePut;
        assert.equal(messages[0]?.kind, 'created');
        const evs = events(messages);
        assert.deepEqual(
          evs.map((e) => [
            e.type,
            e.kv.key.toString(),
            e.kv.modRevision,
            e.kv.value.toString(),
            e.prevKv?.value.toString(),
          ]),
          [
            ['PUT', `${p}k1`, r1, 'a', undefined],
            ['PUT', `${p}k2`, r2, 'b', undefined],
            ['PUT', `${p}k1`, r3, 'c', 'a'],
            ['DELETE', `${p}k2`, r4, '', 'b'],
            ['PUT', `${p}k3`, live, 'live', undefined],
          ],
        );
        await writer.deleteRange(p, prefixEnd(p));
      });

      it('watch sends progress notifications on an idle range', async () => {
        const [writer, , watcher] = clients as [EtcdV3MemberClient, EtcdV3MemberClient, EtcdV3MemberClient];
        const rev = (await writer.put('/progress-other', 'x')).revision;
        const messages = await readWatch(
          (signal) =>
            watcher.watch(
              { key: '/idle/', rangeEnd: prefixEnd('/idle/'), progressNotify: true, requireLeader: true },
              signal,
            ),
          (msgs) => msgs.some((m) => m.kind === 'progress'),
        );
        assert.equal(messages[0]?.kind, 'created');
        const progress = messages.find((m) => m.kind === 'progress');
        assert.ok(progress?.kind === 'progress');
        assert.ok(
          progress.header.revision >= rev,
          `progress at ${progress.header.revision}, writes up to ${rev}`,
        );
        assert.equal(events(messages).length, 0);
      });

      it('hashKV agrees across members; compacted and future revisions are errors; a watch from a compacted revision ends', async () => {
        const p = '/hash/';
        for (let i = 0; i < 10; i++) await clients[0]!.put(`${p}${i}`, `v${i}`);
        const rev = (await clients[0]!.put(`${p}last`, 'x')).revision;
        const hashes = await Promise.all(
          clients.map((c) => eventually(() => c.hashKV(rev, { timeoutMs: 30_000 }), `hashKV at ${rev}`)),
        );
        assert.equal(new Set(hashes.map((h) => h.hash)).size, 1, 'same hash on every member');
        for (const h of hashes) {
          assert.ok(Number.isInteger(h.hash) && h.hash >= 0 && h.hash <= 0xffff_ffff);
          assert.equal(typeof h.compactRevision, 'bigint');
          // 3.6 reports the revision it hashed; 3.4 does not have the field.
          assert.equal(h.hashRevision, version === '3.6' ? rev : 0n);
        }

        const compactAt = rev - 3n;
        await clients[0]!.compact(compactAt, { physical: true });
        const compacted = await rejectsWith(
          clients[0]!.range({ key: p, rangeEnd: prefixEnd(p), revision: compactAt - 1n }),
          'compacted',
        );
        assert.match(compacted.message, /^Range on 127\.0\.0\.1:\d+: .*compacted/);
        await rejectsWith(clients[1]!.hashKV(rev + 1000n), 'future_revision');
        await rejectsWith(clients[1]!.range({ key: p, revision: rev + 1000n }), 'future_revision');
        const after = await eventually(async () => {
          const h = await clients[1]!.hashKV(rev);
          return h.compactRevision === compactAt ? h : undefined;
        }, 'hashKV after compaction');
        assert.equal(after.compactRevision, compactAt);

        const messages = await readWatch(
          (signal) =>
            clients[2]!.watch({ key: p, rangeEnd: prefixEnd(p), startRevision: compactAt - 1n }, signal),
          (msgs) => msgs.some((m) => m.kind === 'compacted'),
        );
        const last = messages.at(-1);
        assert.ok(last?.kind === 'compacted');
        assert.equal(last.compactRevision, compactAt);
      });

      it('defragments a member', async () => {
        await clients[1]!.defragment();
        await clients[1]!.defragment({ timeoutMs: 30_000 });
        assert.ok((await clients[1]!.status()).dbSize > 0n);
      });

      it('a cluster-wide CORRUPT alarm (member ID 0) is listed on every member and can be disarmed', async () => {
        const raised = await clients[0]!.alarmActivate({ memberId: 0n, alarm: 'CORRUPT' });
        try {
          assert.deepEqual(raised, [{ memberId: 0n, alarm: 'CORRUPT' }]);
          for (const c of clients) {
            const listed = await eventually(async () => {
              const a = await c.alarmList();
              return a.length > 0 ? a : undefined;
            }, 'the alarm on every member');
            assert.deepEqual(listed, [{ memberId: 0n, alarm: 'CORRUPT' }]);
          }
        } finally {
          await clients[0]!.alarmDisarm({ memberId: 0n, alarm: 'CORRUPT' });
        }
        assert.deepEqual(await clients[1]!.alarmList(), []);
        // The cluster serves again once the alarm is gone.
        await eventually(() => clients[0]!.put('/after-corrupt', 'ok'), 'writes after disarm');
      });

      it('a stopped member fails alone (calls and its watch) and the same client recovers when it is back', async () => {
        const ac = new AbortController();
        const watchMessages: WatchMessage[] = [];
        const created = Promise.withResolvers<void>();
        const watchDone = (async () => {
          try {
            for await (const m of clients[2]!.watch(
              { key: '/stopped/', rangeEnd: prefixEnd('/stopped/'), requireLeader: true },
              ac.signal,
            )) {
              watchMessages.push(m);
              if (m.kind === 'created') created.resolve();
            }
            return undefined;
          } catch (err) {
            return err;
          }
        })();
        await created.promise;
        // etcd 3.6 waits up to ~8 s for open watch streams before it exits on SIGTERM; 3.4 does not.
        await cluster.stopMember(2);
        try {
          const watchErr = await watchDone;
          assert.ok(watchErr instanceof EtcdError, `watch ended with ${String(watchErr)}`);
          assert.equal(watchErr.code, 'unavailable', watchErr.message);
          assert.match(watchErr.message, /^Watch on 127\.0\.0\.1:\d+: /);

          const results = await Promise.allSettled(clients.map((c) => c.status()));
          assert.equal(results[0]?.status, 'fulfilled');
          assert.equal(results[1]?.status, 'fulfilled');
          const failed = results[2];
          assert.ok(failed?.status === 'rejected');
          assert.ok(failed.reason instanceof EtcdError);
          assert.equal(failed.reason.code, 'unavailable');
          assert.equal(failed.reason.endpoint, parseEndpoint(cluster.endpoints[2]!).hostPort);
          assert.match(failed.reason.message, /^Status on 127\.0\.0\.1:\d+: /);
          // The cluster still has a quorum and lists the stopped member.
          assert.equal((await clients[0]!.memberList()).members.length, 3);
        } finally {
          ac.abort();
          await cluster.startMember(2);
        }
        const back = await eventually(
          () => clients[2]!.status(),
          'the restarted member answers on the same client',
          15_000,
          200,
        );
        assert.equal(back.version, cluster.binaryVersion);
      });
    });
  }

  for (const version of VERSIONS) {
    it(`NOSPACE alarm on etcd ${version}: listed with its member, disarmed after compact and defragment`, async () => {
      await using cluster = await smallQuotaCluster(version, `nospace${version.replace('.', '')}`);
      const client = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), optionsFor(cluster));
      try {
        const value = Buffer.alloc(256 * 1024, 'x');
        let full: EtcdError | undefined;
        for (let i = 0; i < 100 && full === undefined; i++) {
          try {
            await client.put(`/big/${i % 4}`, value);
          } catch (err) {
            assert.ok(err instanceof EtcdError);
            full = err;
          }
        }
        assert.ok(full !== undefined, 'quota reached');
        assert.match(full.message, /database space exceeded/);
        const id = (await client.status()).header.memberId;
        const alarms = await client.alarmList();
        assert.deepEqual(alarms, [{ memberId: id, alarm: 'NOSPACE' }]);
        assert.ok((await client.status()).errors.some((e) => /NOSPACE/.test(e)));

        const rev = (await client.status()).header.revision;
        await client.compact(rev, { physical: true });
        await client.defragment();
        const disarmed = await client.alarmDisarm({ memberId: id, alarm: 'NOSPACE' });
        assert.deepEqual(disarmed, [{ memberId: id, alarm: 'NOSPACE' }]);
        assert.deepEqual(await client.alarmList(), []);
        await client.put('/after', 'ok');
      } finally {
        client.close();
      }
    });
  }

  for (const version of VERSIONS) {
    it(`etcd ${version}: a watch that requires a leader ends when its member loses the leader`, async () => {
      await using cluster = await startEtcdCluster({
        version,
        members: 3,
        name: `noleader${version.replace('.', '')}`,
      });
      const client = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), optionsFor(cluster));
      try {
        const created = Promise.withResolvers<void>();
        const ended = (async () => {
          try {
            for await (const m of client.watch(
              { key: '/nl/', rangeEnd: prefixEnd('/nl/'), requireLeader: true, progressNotify: true },
              AbortSignal.timeout(30_000),
            )) {
              if (m.kind === 'created') created.resolve();
            }
            return undefined;
          } catch (err) {
            return err;
          }
        })();
        await created.promise;
        await Promise.all([cluster.killMember(1), cluster.killMember(2)]);
        const err = await ended;
        assert.ok(err instanceof EtcdError, `watch ended with ${String(err)}`);
        assert.equal(err.code, 'unavailable');
        assert.match(err.message, /no leader/);
      } finally {
        client.close();
      }
    });
  }

  for (const version of VERSIONS) {
    describe(`TLS and auth on etcd ${version}`, { concurrency: false }, () => {
      let cluster: TestCluster;
      const opened: EtcdV3MemberClient[] = [];
      const open = (overrides: Parameters<typeof optionsFor>[1] = {}): EtcdV3MemberClient => {
        const c = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), optionsFor(cluster, overrides));
        opened.push(c);
        return c;
      };

      before(async () => {
        cluster = await startEtcdCluster({
          version,
          members: 1,
          name: `v3tls${version.replace('.', '')}`,
          tls: true,
          auth: true,
          authTokenTtlSeconds: 2,
        });
      });

      after(async () => {
        for (const c of opened) c.close();
        await cluster?.stop();
      });

      it('works with the client certificate and the right password', async () => {
        const c = open();
        await c.put('/tls/a', '1');
        assert.equal((await c.range({ key: '/tls/a' })).kvs[0]?.value.toString(), '1');
        assert.equal((await c.status()).version, cluster.binaryVersion);
        const msgs = await readWatch(
          (signal) => c.watch({ key: '/tls/a', startRevision: 1n }, signal),
          (m) => events(m).length >= 1,
        );
        assert.equal(msgs[0]?.kind, 'created');
        // serverName override: the certificate names localhost too.
        const byName = open({
          tls: {
            ca: cluster.tls!.ca,
            cert: cluster.tls!.cert,
            key: new Secret(cluster.tls!.key),
            serverName: 'localhost',
          },
        });
        await byName.range({ key: '/tls/a' });
        // An IP endpoint is not sent as the TLS server name (RFC 6066; Node's DEP0123).
        await setImmediate();
        assert.ok(!deprecations.has('DEP0123'), 'TLS server name set to an IP address');
      });

      it('a wrong password is an auth error that does not contain the password', async () => {
        const wrongPassword = 'Wr0ng-Passw0rd-xyz';
        const c = open({ auth: { username: 'root', password: new Secret(wrongPassword) } });
        const err = await rejectsWith(c.range({ key: '/tls/a' }), 'auth');
        assert.match(
          err.message,
          /^Range on 127\.0\.0\.1:\d+: Authenticate: etcdserver: authentication failed, invalid user ID or password \(user "root"\)$/,
        );
        assert.ok(!err.message.includes(wrongPassword));
        assert.ok(!err.message.includes(cluster.auth!.password));
        assert.ok(!JSON.stringify(err).includes(wrongPassword));
        // Without credentials, etcd refuses the request too.
        const anonymous = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), {
          ...optionsFor(cluster),
          auth: undefined,
        });
        opened.push(anonymous);
        await rejectsWith(anonymous.range({ key: '/tls/a' }), 'auth');
      });

      it('re-authenticates transparently when the token expired', async () => {
        const c = open();
        await c.range({ key: '/tls/a' });
        // Simple tokens live authTokenTtlSeconds after their last use: wait it out, unused.
        await sleep(3_500);
        const results = await Promise.all([1, 2, 3].map(() => c.range({ key: '/tls/a' })));
        assert.ok(results.every((r) => r.kvs.length === 1));
        const log = await readFile(cluster.members[0]!.logFile, 'utf8');
        assert.match(log, /invalid auth token/, 'the old token was refused, then replaced');
        await sleep(3_500);
        const msgs = await readWatch(
          (signal) => c.watch({ key: '/tls/a', startRevision: 1n }, signal),
          (m) => events(m).length >= 1,
        );
        assert.equal(msgs[0]?.kind, 'created');
      });

      it('a wrong CA is a tls error; no or a foreign client certificate is refused', async () => {
        const tls = cluster.tls!;
        const wrongCa = open({ tls: { ca: tls.otherCa, cert: tls.cert, key: new Secret(tls.key) } });
        const e1 = await rejectsWith(wrongCa.status(), 'tls');
        assert.match(e1.message, /certificate/);
        const noCert = open({ tls: { ca: tls.ca } });
        const e2 = await rejectsWith(noCert.status(), 'tls');
        assert.match(e2.message, /client certificate/);
        const foreign = open({ tls: { ca: tls.ca, cert: tls.otherCert, key: new Secret(tls.otherKey) } });
        await rejectsWith(foreign.status(), 'tls');
        const wrongName = open({
          tls: {
            ca: tls.ca,
            cert: tls.cert,
            key: new Secret(tls.key),
            serverName: 'not-in-the-cert.example',
          },
        });
        await rejectsWith(wrongName.status(), 'tls');
        // Verification off only when asked for.
        const insecure = open({
          tls: { cert: tls.cert, key: new Secret(tls.key), insecureSkipVerify: true },
        });
        await insecure.range({ key: '/tls/a' });
      });
    });
  }

  it('unreachable endpoints fail as unavailable within the dial timeout', async () => {
    const refused = createV3MemberClient(parseEndpoint(`http://127.0.0.1:${await closedPort()}`), {
      dialTimeoutMs: 1_000,
      requestTimeoutMs: 5_000,
    });
    const silent = await silentServer();
    const hanging = createV3MemberClient(parseEndpoint(`http://127.0.0.1:${silent.port}`), {
      dialTimeoutMs: 1_000,
      requestTimeoutMs: 5_000,
    });
    const hangingTls = createV3MemberClient(parseEndpoint(`https://127.0.0.1:${silent.port}`), {
      dialTimeoutMs: 1_000,
      requestTimeoutMs: 5_000,
    });
    try {
      const e1 = await rejectsWith(refused.status(), 'unavailable');
      assert.match(e1.message, /^Status on 127\.0\.0\.1:\d+: connection refused/);
      // The dial timeout (1 s) ends these, not the request deadline (5 s): the message says which.
      for (const c of [hanging, hangingTls]) {
        const e = await rejectsWith(c.memberList(), 'unavailable');
        assert.match(e.message, /^MemberList on 127\.0\.0\.1:\d+: cannot connect within 1000 ms/);
      }
      // A watch cannot connect either.
      await assert.rejects(
        readWatch(
          (signal) => hanging.watch({ key: 'a' }, signal),
          () => false,
          5_000,
        ),
        (err: unknown) => {
          assert.ok(err instanceof EtcdError && err.code === 'unavailable', String(err));
          return true;
        },
      );
    } finally {
      refused.close();
      hanging.close();
      hangingTls.close();
      await silent.close();
    }
  });

  it('aborts, caller deadlines and close()', async () => {
    const silent = await silentServer();
    // The client's own timeouts are far away: only the caller's signal or deadline can end these calls.
    const c = createV3MemberClient(parseEndpoint(`http://127.0.0.1:${silent.port}`), {
      dialTimeoutMs: 60_000,
      requestTimeoutMs: 60_000,
    });
    try {
      await rejectsWith(c.status({ signal: AbortSignal.abort() }), 'canceled');
      // Aborted while waiting, long before its own deadline: canceled, not timeout.
      const ac = new AbortController();
      const waiting = c.status({ signal: ac.signal, timeoutMs: 60_000 });
      setTimeout(() => ac.abort(), 100);
      await rejectsWith(waiting, 'canceled');
      // The caller's deadline, as a signal or as timeoutMs, is a timeout.
      const bySignal = await rejectsWith(
        settlesWithin(c.status({ signal: AbortSignal.timeout(100) }), 10_000, 'a call with a 100 ms signal'),
        'timeout',
      );
      assert.match(bySignal.message, /caller's deadline expired/);
      const byTimeout = await rejectsWith(
        settlesWithin(c.status({ timeoutMs: 200 }), 10_000, 'a call with timeoutMs 200'),
        'timeout',
      );
      assert.match(byTimeout.message, /no connection before the call's deadline/);
      // An aborted watch ends without an error.
      const messages: WatchMessage[] = [];
      for await (const m of c.watch({ key: 'a' }, AbortSignal.abort())) messages.push(m);
      assert.deepEqual(messages, []);
    } finally {
      c.close();
      await silent.close();
    }
    const e = await rejectsWith(c.status(), 'canceled');
    assert.match(e.message, /client is closed/);
  });

  it('close() ends a running watch and nothing is left behind: a process using every client exits by itself', async () => {
    await using cluster = await startEtcdCluster({
      version: '3.4',
      members: 1,
      name: 'leaks',
      enableV2: true,
    });
    const client = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), optionsFor(cluster));
    const created = Promise.withResolvers<void>();
    const watching = (async () => {
      try {
        for await (const m of client.watch({ key: 'a' }, new AbortController().signal))
          if (m.kind === 'created') created.resolve();
        return undefined;
      } catch (err) {
        return err;
      }
    })();
    await created.promise;
    client.close();
    const err = await watching;
    assert.ok(err instanceof EtcdError && err.code === 'canceled', String(err));

    const script = new URL('./fixtures/use-and-close.ts', import.meta.url).pathname;
    const child = spawn(process.execPath, [script, cluster.endpoints[0]!], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    // Guards against a hang only; the keepalive (30 s) would end a leaking process later than this.
    const timer = setTimeout(() => child.kill('SIGKILL'), 25_000);
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
      child.on('exit', (c, s) => resolve([c, s])),
    );
    clearTimeout(timer);
    assert.equal(signal, null, `the process did not exit by itself:\n${output}`);
    assert.equal(code, 0, output);
    assert.match(output, /all closed/);
  });
});
