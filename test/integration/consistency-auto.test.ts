/**
 * hashRevision auto (the default) on real etcd 3.4 (no cached compaction
 * hashes) and 3.6: a value changed on one member behind etcd's back (equal
 * key counts) is found by the next scan, with no compaction at all, within
 * hashIdleSeconds and one interval, naming that member; the verdict stands
 * and is exported on every round until the next hash; under sustained writes
 * with etcd's own auto-compaction every compaction brings a verdict and none
 * is a false mismatch; during a rolling upgrade 3.4 → 3.5 the members' scans
 * compare across the versions.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FeatureRun } from '../../src/engine/snapshot.ts';
import type { EtcdVersion, TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { scrape } from '../support/scrape.ts';
import { hostPort, specFor } from '../support/specs.ts';
import {
  bboltEdit,
  consistency,
  detailsOf,
  preloadedCluster,
  Rounds,
  Writer,
} from '../support/consistency.ts';
import { startInspectionServer } from '../support/inspection-server.ts';

/** hashIdleSeconds of these tests: short, so that a scan comes every few rounds. */
const IDLE_SECONDS = 4;

/** A round that took a hash itself (not the standing verdict of an earlier one) and reached a verdict. */
const fresh = (r: FeatureRun): boolean => {
  const d = detailsOf(r);
  return r.ok && !d.hashReused && (d.hash === 'consistent' || d.hash === 'mismatch');
};

async function daemonFor(
  t: { after: (fn: () => unknown) => void },
  cluster: TestCluster,
  options: Record<string, unknown>,
): Promise<{ rounds: Rounds; address: string }> {
  const { daemon, address } = await startInspectionServer(t);
  const rounds = new Rounds(daemon, 'auto');
  t.after(() => rounds.close());
  await daemon.engine.upsert(specFor('auto', cluster, { consistency: consistency(options) }));
  return { rounds, address };
}

async function rewrite(cluster: TestCluster, member: number, value: string): Promise<void> {
  await cluster.stopMember(member);
  try {
    await bboltEdit(['-db', cluster.members[member]!.dataDir, 'set-value', '/data/k0007', value]);
  } finally {
    await cluster.startMember(member);
  }
}

for (const version of ['3.4', '3.6'] as EtcdVersion[]) {
  describe(`consistency hashRevision auto on etcd ${version}`, () => {
    test('a value changed on one member, never compacted: the next scan names that member; the verdict stands between scans', async (t) => {
      const { cluster } = await preloadedCluster(t, { version, members: 3, name: 'auto', keys: 50 });
      // The default mode: no hashRevision given.
      const { rounds, address } = await daemonFor(t, cluster, { hashIdleSeconds: IDLE_SECONDS });

      const first = await rounds.next((r) => fresh(r) && detailsOf(r).hash === 'consistent', 'a first scan');
      const firstDetails = detailsOf(first);
      assert.equal(firstDetails.hashMode, 'auto');
      assert.equal(firstDetails.hashKind, 'recent', first.summary);
      assert.equal(
        firstDetails.hashRevision,
        firstDetails.checkedRevision,
        'hashed where the keys were counted',
      );
      assert.ok(firstDetails.members.every((m) => m.compactRevision === -1n && m.hashState === 'match'));
      assert.match(first.summary, /hashes equal at revision \d+ \(scan, never compacted\)/);
      // Until the idle period is over, the rounds take no hash and the verdict stands.
      const standing = await rounds.next((_r, d) => d.hashReused, 'a round on the standing verdict');
      assert.equal(standing.ok, true, standing.error);
      assert.equal(detailsOf(standing).hashRevision, firstDetails.hashRevision);
      assert.equal(detailsOf(standing).hashCheckedAt, firstDetails.hashCheckedAt);
      assert.match(
        detailsOf(standing).hashNote,
        /never compacted: next hash at a recent revision 4 s after the last/,
      );

      const odd = cluster.endpoints[1]!;
      await rewrite(cluster, 1, 'value-X');
      const restartedAt = Date.now();
      const from = rounds.runs.length;
      const flagged = await rounds.next(
        (r, d) => fresh(r) && d.hash === 'mismatch',
        'the rewritten value found',
        60_000,
      );
      t.diagnostic(
        `mismatch found ${Date.now() - restartedAt} ms after the member restarted (hashIdleSeconds ${IDLE_SECONDS}, interval 1 s)`,
      );
      const d = detailsOf(flagged);
      assert.equal(d.hashKind, 'recent');
      assert.deepEqual(
        d.members.filter((m) => m.hashState === 'mismatch').map((m) => m.endpoint),
        [hostPort(odd)],
        flagged.summary,
      );
      assert.equal(d.keyDiff, 0n, 'same key count: only the hash sees it');
      assert.ok(
        d.members.every((m) => m.compactRevision === -1n),
        'found without any compaction',
      );
      assert.equal(flagged.problems.length, 1);
      assert.match(
        flagged.problems[0]!,
        new RegExp(
          `^member ${hostPort(odd).replace(/\./g, '\\.')}: hash at revision ${d.hashRevision} differs from the majority .*replace the divergent member.*docs/runbooks\\.md \\(EtcdMemberHashMismatch\\)$`,
        ),
      );
      // Found by the first scan after the restart: every round in between stood on the old
      // verdict or had none; and scans never came closer than hashIdleSeconds.
      const between = rounds.runs.slice(from, rounds.runs.indexOf(flagged));
      assert.deepEqual(
        between.filter(fresh).map((r) => r.summary),
        [],
        'no scan in between',
      );
      const scans = rounds.runs.filter(fresh).map((r) => Date.parse(detailsOf(r).hashCheckedAt!));
      for (let i = 1; i < scans.length; i++)
        assert.ok(
          scans[i]! - scans[i - 1]! >= IDLE_SECONDS * 1000,
          `scans ${i - 1} and ${i} are ${scans[i]! - scans[i - 1]!} ms apart`,
        );

      // The verdict is exported on every round (the alert has `for: 2m`), reused or not.
      const later = await rounds.collect(3);
      for (const r of later) {
        assert.equal(detailsOf(r).hash, 'mismatch', r.summary);
        assert.ok(
          r.problems.some((p) => p.startsWith(`member ${hostPort(odd)}: hash`)),
          r.problems.join(),
        );
      }
      assert.ok(
        later.some((r) => detailsOf(r).hashReused),
        'some rounds stand on the verdict',
      );
      const m = await scrape(address);
      assert.equal(
        m.get(`inspection_etcd_endpoint_hash_mismatch{clusterName="auto",endpoint="${hostPort(odd)}"}`),
        1,
      );
      assert.equal(m.get('inspection_etcd_consistency_hash_mismatch{clusterName="auto"}'), 1);
      assert.ok(
        m.get('inspection_etcd_consistency_hash_timestamp_seconds{clusterName="auto"}')! * 1000 >=
          restartedAt,
      );

      // Repaired (stopped, rewritten back, started): while the member is down the rounds
      // cannot hash, and the standing mismatch is still exported on each of them.
      await cluster.stopMember(1);
      try {
        const stoppedAt = Date.now();
        const down = await rounds.next(
          (r, dd) =>
            r.startedAt.getTime() > stoppedAt &&
            dd.members.some((mm) => mm.endpoint === hostPort(odd) && mm.revision === null),
          'a round with the member down',
        );
        assert.equal(detailsOf(down).hash, 'mismatch', down.summary);
        assert.equal(detailsOf(down).hashReused, true);
        const whileDown = await scrape(address);
        assert.equal(
          whileDown.get(
            `inspection_etcd_endpoint_hash_mismatch{clusterName="auto",endpoint="${hostPort(odd)}"}`,
          ),
          1,
        );
        await bboltEdit(['-db', cluster.members[1]!.dataDir, 'set-value', '/data/k0007', 'value-7']);
      } finally {
        await cluster.startMember(1);
      }
      await rounds.next((r, dd) => fresh(r) && dd.hash === 'consistent', 'consistent again', 60_000);
      await eventually(async () => {
        const s = await scrape(address);
        return s.get(
          `inspection_etcd_endpoint_hash_mismatch{clusterName="auto",endpoint="${hostPort(odd)}"}`,
        ) === 0
          ? true
          : undefined;
      }, 'the member no longer flagged');
    });

    test("sustained writes with etcd's auto-compaction: a verdict per compaction, never a false mismatch", async (t) => {
      const { cluster, client } = await preloadedCluster(t, {
        version,
        members: 3,
        name: 'autoc',
        keys: 50,
        extraArgs: ['--auto-compaction-mode=periodic', '--auto-compaction-retention=2s'],
      });
      const writer = new Writer(client, '/load/');
      t.after(() => writer.stop());
      // The default idle period (10 min): every verdict here comes from the compactions.
      const { rounds, address } = await daemonFor(t, cluster, {});

      const compactions = new Set<bigint>();
      await eventually(
        () => {
          for (const r of rounds.runs.filter(fresh)) {
            const c = detailsOf(r).members[0]?.compactRevision;
            if (c !== null && c !== undefined && c > 0n) compactions.add(c);
          }
          return compactions.size >= 5 ? true : undefined;
        },
        'hash verdicts after five compactions',
        120_000,
      );
      const writes = writer.writes;
      assert.ok(writes > 100, `writes kept coming (${writes})`);
      // (The first rounds may come before etcd's first compaction: a recent-revision scan then.)
      const compacted = (r: FeatureRun): boolean => (detailsOf(r).members[0]?.compactRevision ?? 0n) > 0n;
      const verdicts = rounds.runs.filter((r) => fresh(r) && compacted(r));
      assert.deepEqual(
        rounds.runs.filter((r) => detailsOf(r)?.hash === 'mismatch').map((r) => r.summary),
        [],
        'no mismatch in any round',
      );
      // 3.4 keeps no compaction hashes: one scan per compaction; 3.6 answers from its cache.
      const kinds = new Set(verdicts.map((r) => detailsOf(r).hashKind));
      if (version === '3.4') assert.deepEqual([...kinds], ['compaction-scan']);
      else {
        // Right after a compaction a member may answer before it cached the hash (it scans
        // then): that round scans every member instead, once for that compaction.
        assert.ok(kinds.has('cached'), [...kinds].join());
        assert.deepEqual(
          [...kinds].filter((k) => k !== 'cached' && k !== 'compaction-scan'),
          [],
        );
      }
      if (version === '3.4') {
        const perCompaction = new Map<bigint, number>();
        for (const r of verdicts) {
          const c = detailsOf(r).members[0]!.compactRevision!;
          perCompaction.set(c, (perCompaction.get(c) ?? 0) + 1);
        }
        assert.ok(
          [...perCompaction.values()].every((n) => n === 1),
          `one scan per compaction: ${[...perCompaction].join(' ')}`,
        );
      }
      const m = await scrape(address);
      assert.equal(m.get('inspection_etcd_consistency_hash_mismatch{clusterName="auto"}'), 0);
    });

    test('a member restarted after a compaction lost its cached hash: one scan of every member gives the verdict', {
      skip: version !== '3.6' && 'etcd 3.4 keeps no compaction hashes: every compaction is scanned (above)',
    }, async (t) => {
      const { cluster, client } = await preloadedCluster(t, { version, members: 3, name: 'autor', keys: 50 });
      const head = (await client.put('/marker', 'x')).revision;
      await client.compact(head - 10n, { physical: true });
      const { rounds } = await daemonFor(t, cluster, {});
      const cached = await rounds.next(
        (r, d) => fresh(r) && d.hashKind === 'cached' && d.hash === 'consistent',
        'the cached compaction hash compared',
      );
      assert.equal(detailsOf(cached).hashRevision, head - 10n);

      const odd = cluster.endpoints[1]!;
      await rewrite(cluster, 1, 'value-X');
      const flagged = await rounds.next(
        (r, d) => fresh(r) && d.hash === 'mismatch',
        'the rewritten value found',
      );
      const d = detailsOf(flagged);
      assert.equal(d.hashKind, 'compaction-scan', flagged.summary);
      assert.equal(d.hashRevision, d.checkedRevision);
      assert.deepEqual(
        d.members.filter((m) => m.hashState === 'mismatch').map((m) => m.endpoint),
        [hostPort(odd)],
      );
      assert.match(
        flagged.summary,
        new RegExp(`HASH MISMATCH at revision \\d+ \\(scan after compaction ${head - 10n}\\)`),
      );
      // The verdict stands: the cached hashes of that compaction (older) never replace it.
      const later = await rounds.collect(3);
      for (const r of later) assert.equal(detailsOf(r).hash, 'mismatch', r.summary);
    });
  });
}

describe('consistency hashRevision auto during a rolling upgrade 3.4 → 3.5', () => {
  test('3.4 and 3.5 members compare their scans: a verdict per compaction, and the rewritten value found on the upgraded member', async (t) => {
    const { cluster, client } = await preloadedCluster(t, {
      version: '3.4',
      members: 3,
      name: 'autoup',
      keys: 50,
    });
    // Member 1 runs 3.5 from here on, with the data it had; the others stay on 3.4.
    await cluster.stopMember(1);
    await cluster.startMember(1, { version: '3.5' });
    const { rounds } = await daemonFor(t, cluster, {});
    const compact = async (): Promise<bigint> => {
      const head = (await client.put('/marker', String(Date.now()))).revision;
      await client.compact(head - 5n, { physical: true });
      return head - 5n;
    };
    const c = await compact();
    const mixed = await rounds.next(
      (r, d) => fresh(r) && d.members.every((m) => m.compactRevision === c),
      'a verdict after the compaction',
    );
    const d = detailsOf(mixed);
    assert.equal(d.hash, 'consistent', mixed.summary);
    assert.equal(d.hashKind, 'compaction-scan', 'a 3.4 member keeps no compaction hashes');
    assert.deepEqual(d.members.map((m) => m.version?.slice(0, 3)).sort(), ['3.4', '3.4', '3.5']);
    assert.equal(new Set(d.members.map((m) => m.hash)).size, 1, 'one hash across the versions');

    await rewrite(cluster, 1, 'value-X'); // restarted on the 3.5 binary it runs
    await compact();
    const flagged = await rounds.next(
      (r, dd) => fresh(r) && dd.hash === 'mismatch',
      'the rewritten value found',
    );
    assert.deepEqual(
      detailsOf(flagged)
        .members.filter((m) => m.hashState === 'mismatch')
        .map((m) => [m.endpoint, m.version?.slice(0, 3)]),
      [[hostPort(cluster.endpoints[1]!), '3.5']],
    );
  });
});
