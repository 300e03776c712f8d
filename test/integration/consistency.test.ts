/**
 * consistency on real etcd 3.4 and 3.6, under continuous writes: equal data
 * gives a key difference of exactly 0 and equal hashes in every round; a
 * real divergence made on one member's disk with hack/tools' bbolt-edit (a
 * rewritten value, a missing key) is flagged on exactly that member, and two
 * members that differ are both flagged (no majority); a stopped member gives
 * no verdict (a counted failure, no verdict series, not the old one); v2
 * clusters; `etcd-monitor inspect --features consistency`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InspectionServer } from '../../src/inspection-server.ts';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { createV2MemberClient } from '../../src/etcd/v2/client.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import type { EtcdV2MemberClient, EtcdV3MemberClient } from '../../src/etcd/types.ts';
import type { FeatureRun } from '../../src/engine/snapshot.ts';
import type { ConsistencyDetails } from '../../src/features/consistency/consistency.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { silentLogger } from '../../src/log.ts';
import { startEtcdCluster, type EtcdVersion, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { family, scrape } from '../support/scrape.ts';
import { clientOptionsFor, hostPort, specFor } from '../support/specs.ts';
import { cli, tlsFlags } from '../support/cli.ts';
import {
  bboltEdit,
  consistency,
  detailsOf,
  member,
  preload,
  preloadedCluster,
  Rounds,
  Writer,
} from '../support/consistency.ts';
import { startInspectionServer } from '../support/inspection-server.ts';
import { clusterForTest } from '../support/clusters.ts';

/** A member's own count of the whole keyspace at a revision, through etcdctl (an oracle independent of the monitor). */
async function etcdctlCount(cluster: TestCluster, url: string, revision: bigint): Promise<bigint> {
  // count is the size of the whole range, whatever the limit (3.4's etcdctl has no --count-only).
  const out = await cluster.etcdctl(
    [
      'get',
      '',
      '--from-key',
      '--keys-only',
      '--limit=1',
      `--rev=${revision}`,
      '--consistency=s',
      '-w',
      'json',
    ],
    { endpoints: [url] },
  );
  const parsed = JSON.parse(out) as { count?: number };
  return BigInt(parsed.count ?? 0);
}

/**
 * Compacts a little behind the head, as Kubernetes does (compacting at the
 * head would make rounds pinned just before it unknown), and waits until the
 * 'compacted' cluster compares hashes of that compaction.
 */
async function compactAndWait(
  client: EtcdV3MemberClient,
  rounds: Rounds,
  check: (d: ConsistencyDetails) => boolean,
  what: string,
): Promise<bigint> {
  let revision = 0n;
  for (let attempt = 1; ; attempt++) {
    const head = (await client.put('/compaction-marker', String(Date.now()))).revision;
    revision = head - 100n;
    try {
      await client.compact(revision, { physical: true });
      break;
    } catch (err) {
      // An earlier compaction of this test, with fewer than 100 writes since, already passed
      // head - 100: rewrite the marker (the key count stays) until the head is far enough ahead.
      if ((err as { code?: unknown }).code !== 'compacted' || attempt === 3) throw err;
      for (let i = 0; i < 100; i++) await client.put('/compaction-marker', String(i));
    }
  }
  // Right after a compaction a member may answer before its hash is cached (it then computes one):
  // wait for every member's cached hash, which reports the compaction before this one.
  const cached = (d: ConsistencyDetails): boolean =>
    d.members.every((m) => m.hashCompactRevision !== null && m.hashCompactRevision < revision);
  await rounds.next((_r, d) => d.hashRevision === revision && cached(d) && check(d), what);
  return revision;
}

/** What the tests read of `inspect -o json`'s report. */
interface InspectReport {
  ok: boolean;
  problems: string[];
  why: { feature: string; member: string; cause: string; severity: string; runbook?: string }[];
  cluster: { inspections: Record<string, { last: { ok: boolean; details: unknown } }> };
}
/** The consistency inspection's last result, as JSON. */
type ConsistencyRun = { ok: boolean; details: { keyDiff: string; members: unknown[] } };

/** `etcd-monitor inspect --features consistency -o json` of one endpoint; it must exit with `code`. */
async function inspectConsistency(
  endpoint: string,
  flags: readonly string[],
  code: number,
): Promise<InspectReport> {
  const r = await cli([
    'inspect',
    '--endpoints',
    endpoint,
    ...flags,
    '--features',
    'consistency',
    '-o',
    'json',
  ]);
  assert.equal(r.code, code, r.stderr + r.stdout);
  return JSON.parse(r.stdout) as InspectReport;
}

for (const version of ['3.4', '3.6'] as EtcdVersion[]) {
  const cachesHashes = version === '3.6';

  describe(`consistency on etcd ${version}: healthy, a stopped member, a rewritten value`, () => {
    let cluster: TestCluster;
    let daemon: InspectionServer;
    let address: string;
    let client: EtcdV3MemberClient;
    let writer: Writer;
    let cur: Rounds;
    let cmp: Rounds;

    before(async () => {
      cluster = await startEtcdCluster({ version, members: 3, name: `cons${version.replace('.', '')}` });
      client = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), clientOptionsFor(cluster));
      await preload(client, 200);
      daemon = new InspectionServer({ logger: silentLogger(), registry: featureRegistry, jitter: false });
      address = await daemon.listen('127.0.0.1:0');
      cur = new Rounds(daemon, 'cur');
      cmp = new Rounds(daemon, 'cmp');
      // The same cluster twice: hashes at the checked revision, and at the latest compaction.
      await daemon.engine.upsert(
        specFor('cur', cluster, { consistency: consistency({ hashRevision: 'current' }) }),
      );
      await daemon.engine.upsert(
        specFor('cmp', cluster, { consistency: consistency({ hashRevision: 'compacted' }) }),
      );
      writer = new Writer(client, '/load/');
    });
    after(async () => {
      await writer?.stop();
      cur?.close();
      cmp?.close();
      await daemon?.close();
      client?.close();
      await cluster?.stop();
    });

    test('under continuous writes every round agrees: key difference exactly 0, equal hashes', async () => {
      if (cachesHashes) {
        await compactAndWait(
          client,
          cmp,
          (d) => d.hash === 'consistent',
          'hashes of the compaction compared',
        );
      }
      // (A round whose HashKV calls straddle the moment the members apply that
      // compaction sees two compact revisions and is rightly unknown: count from here.)
      const failuresBefore = daemon.store.get('cur')!.features.consistency!.failures;
      const collectFrom = cur.runs.length;
      const writesBefore = writer.writes;
      const [curRuns, cmpRuns] = await Promise.all([cur.collect(6), cmp.collect(6)]);
      assert.ok(writer.writes > writesBefore + 50, `writes kept coming (${writer.writes - writesBefore})`);

      let previous = 0n;
      for (const r of curRuns) {
        const d = detailsOf(r);
        assert.equal(r.ok, true, r.error);
        assert.deepEqual(r.problems, []);
        assert.equal(d.keyDiff, 0n, r.summary);
        assert.equal(d.hash, 'consistent', r.summary);
        assert.equal(d.hashRevision, d.checkedRevision, 'current: hashed where counted');
        assert.ok(d.checkedRevision! > previous, 'the checked revision moves with the writes');
        previous = d.checkedRevision!;
        assert.equal(new Set(d.members.map((m) => String(m.keys))).size, 1);
        assert.ok(d.members.every((m) => m.hashState === 'match' && m.errors.length === 0));
        assert.notEqual(d.revisionDiff, null, 'lag is reported');
      }
      for (const r of cmpRuns) {
        const d = detailsOf(r);
        assert.equal(r.ok, true, r.error);
        assert.equal(d.keyDiff, 0n, r.summary);
        if (cachesHashes) {
          assert.equal(d.hash, 'consistent', r.summary);
          assert.ok(d.hashRevision! < d.checkedRevision!, 'compacted: the hash of the last compaction');
          assert.ok(d.members.every((m) => m.compactRevision === d.hashRevision));
        } else {
          assert.equal(d.hash, 'not-checked');
          assert.match(d.hashNote, /etcd 3\.4\.\d+ keeps no compaction hashes/);
        }
      }

      // Each member's count is what etcd itself answers at that revision, in every round.
      for (const r of [...curRuns, ...cmpRuns]) {
        for (const url of cluster.endpoints) {
          assert.equal(
            member(r, url).keys,
            await etcdctlCount(cluster, url, detailsOf(r).checkedRevision!),
            `count of ${hostPort(url)} at ${detailsOf(r).checkedRevision}`,
          );
        }
      }

      const m = await scrape(address);
      assert.equal(m.get('inspection_etcd_node_diff_total{clusterName="cur"}'), 0);
      assert.equal(m.get('inspection_etcd_consistency_hash_mismatch{clusterName="cur"}'), 0);
      assert.deepEqual(
        [...family(m, 'inspection_etcd_endpoint_hash_mismatch').entries()]
          .filter(([k]) => k.includes('"cur"'))
          .map(([, v]) => v),
        [0, 0, 0],
      );
      assert.ok(m.has('inspection_etcd_consistency_checked_revision{clusterName="cur"}'));
      assert.ok(m.has('inspection_etcd_node_raft_applied_index_diff_total{clusterName="cur"}'));
      assert.equal(m.has('inspection_etcd_consistency_hash_mismatch{clusterName="cmp"}'), cachesHashes);
      assert.deepEqual(
        cur.runs
          .slice(collectFrom)
          .filter((r) => !r.ok)
          .map((r) => r.error),
        [],
        'no round without verdict',
      );
      assert.equal(
        m.get('inspection_failed_num{clusterName="cur",inspectionType="consistency"}'),
        failuresBefore,
      );
    });

    test('a stopped member: its status is reported missing, no verdict that round, a failure counted, no old verdict left', async () => {
      const down = cluster.endpoints[2]!;
      const failuresBefore = daemon.store.get('cur')!.features.consistency!.failures;
      await cluster.stopMember(2);
      const stoppedAt = Date.now();
      try {
        const failed = await cur.next(
          (r) => !r.ok && r.startedAt.getTime() > stoppedAt,
          'a round without verdict',
        );
        assert.match(failed.error ?? '', new RegExp(hostPort(down).replace(/\./g, '\\.')));
        const d = detailsOf(failed);
        for (const url of cluster.endpoints.slice(0, 2))
          assert.notEqual(member(failed, url).revision, null, 'the members that answer are reported');
        assert.equal(member(failed, down).revision, null);
        assert.ok(member(failed, down).errors.length > 0);
        assert.equal(d.hash, 'unknown');
        assert.equal(d.keyDiff, null);

        const m = await scrape(address);
        const cluster_ = (name: string): boolean => m.has(`${name}{clusterName="cur"}`);
        assert.equal(
          cluster_('inspection_etcd_consistency_hash_mismatch'),
          false,
          'no hash verdict this round',
        );
        assert.equal(cluster_('inspection_etcd_node_diff_total'), false, 'no key verdict this round');
        assert.equal(cluster_('inspection_etcd_node_revision_diff_total'), false, 'no partial lag');
        assert.equal(
          [...family(m, 'inspection_etcd_endpoint_hash_mismatch').keys()].some((k) => k.includes('"cur"')),
          false,
        );
        assert.ok(
          m.get('inspection_failed_num{clusterName="cur",inspectionType="consistency"}')! > failuresBefore,
        );
        assert.equal(m.get('inspection_feature_success{clusterName="cur",inspectionType="consistency"}'), 0);
      } finally {
        await cluster.startMember(2);
      }
      await cur.next((r, d) => r.ok && d.hash === 'consistent' && d.keyDiff === 0n, 'a verdict again');
    });

    test('a value rewritten on one member: the hash flags exactly that member, its key count is equal', async () => {
      const odd = cluster.endpoints[1]!;
      // Fresh compaction hashes everywhere (the member restarted above lost its cached one).
      if (cachesHashes)
        await compactAndWait(client, cmp, (d) => d.hash === 'consistent', 'compacted: consistent before');
      await cluster.stopMember(1);
      let edited: Record<string, unknown>;
      try {
        edited = await bboltEdit(['-db', cluster.members[1]!.dataDir, 'set-value', '/data/k0007', 'value-X']);
      } finally {
        await cluster.startMember(1);
      }
      assert.equal(edited.value, 'value-7');
      assert.equal(edited.newValue, 'value-X');
      // The divergence is real: that member serves the rewritten value.
      const direct = createV3MemberClient(parseEndpoint(odd), clientOptionsFor(cluster));
      try {
        const read = await direct.range({ key: '/data/k0007', serializable: true });
        assert.equal(read.kvs[0]?.value.toString(), 'value-X');
      } finally {
        direct.close();
      }

      const flagged = (r: FeatureRun, d: ConsistencyDetails): boolean => r.ok && d.hash === 'mismatch';
      const assertFlagged = (r: FeatureRun): void => {
        const d = detailsOf(r);
        assert.deepEqual(
          d.members.filter((m) => m.hashState === 'mismatch').map((m) => m.endpoint),
          [hostPort(odd)],
          r.summary,
        );
        assert.equal(d.members.filter((m) => m.hashState === 'match').length, 2);
        assert.equal(d.keyDiff, 0n, 'same key count: only the hash can see this');
        assert.equal(r.problems.length, 1);
        assert.match(
          r.problems[0]!,
          new RegExp(
            `member ${hostPort(odd).replace(/\./g, '\\.')}: hash at revision \\d+ differs from the majority`,
          ),
        );
      };
      assertFlagged(await cur.next(flagged, 'current: mismatch flagged'));
      const m = await scrape(address);
      const mismatch = family(m, 'inspection_etcd_endpoint_hash_mismatch');
      for (const url of cluster.endpoints) {
        assert.equal(
          mismatch.get(`{clusterName="cur",endpoint="${hostPort(url)}"}`),
          url === odd ? 1 : 0,
          hostPort(url),
        );
      }
      assert.equal(m.get('inspection_etcd_consistency_hash_mismatch{clusterName="cur"}'), 1);
      assert.equal(m.get('inspection_etcd_node_diff_total{clusterName="cur"}'), 0);

      if (cachesHashes) {
        // The restarted member lost etcd's cached hash of the last compaction:
        // it scans once (unknown: its hash covers other revisions), and is not
        // asked again (no scan every round) until the next compaction.
        const unknown = await cmp.next(
          (r) => !r.ok && member(r, odd).hashState === 'unknown',
          'compacted: restarted member unknown',
        );
        assert.match(member(unknown, odd).errors.join(), /computed by a scan/);
        const skipped = await cmp.next(
          (r) => !r.ok && /not asked again/.test(member(r, odd).errors.join()),
          'not asked again',
        );
        assert.equal(member(skipped, odd).hash, null);
        assert.equal(detailsOf(skipped).hash, 'unknown');
        assert.equal(
          (await scrape(address)).has('inspection_etcd_consistency_hash_mismatch{clusterName="cmp"}'),
          false,
        );
        // After the next compaction every member computed the hash while compacting.
        await compactAndWait(client, cmp, (d) => d.hash === 'mismatch', 'compacted: mismatch flagged');
        assertFlagged(cmp.last!);
      }

      // Repaired: the verdict goes back to consistent, nothing flagged remains.
      await cluster.stopMember(1);
      try {
        await bboltEdit(['-db', cluster.members[1]!.dataDir, 'set-value', '/data/k0007', 'value-7']);
      } finally {
        await cluster.startMember(1);
      }
      await cur.next((r, d) => r.ok && d.hash === 'consistent', 'current: consistent again');
      if (cachesHashes)
        await compactAndWait(client, cmp, (d) => d.hash === 'consistent', 'compacted: consistent again');
      await eventually(async () => {
        const values = [...family(await scrape(address), 'inspection_etcd_endpoint_hash_mismatch').values()];
        return values.length > 0 && values.every((v) => v === 0) ? true : undefined;
      }, 'no member flagged');
    });
  });

  describe(`consistency on etcd ${version}: a key missing on one member`, () => {
    test('the key counts differ by exactly that key and the hash flags that member', async (t) => {
      const { cluster, client } = await preloadedCluster(t, { version, members: 3, name: 'miss', keys: 50 });
      const { daemon, address } = await startInspectionServer(t);
      const cur = new Rounds(daemon, 'cur');
      const cmp = new Rounds(daemon, 'cmp');
      t.after(() => {
        cur.close();
        cmp.close();
      });
      await daemon.engine.upsert(
        specFor('cur', cluster, { consistency: consistency({ hashRevision: 'current' }) }),
      );
      await daemon.engine.upsert(
        specFor('cmp', cluster, { consistency: consistency({ hashRevision: 'compacted' }) }),
      );
      const writer = new Writer(client, '/load/');
      t.after(() => writer.stop());
      await cur.next((r, d) => r.ok && d.hash === 'consistent', 'consistent first');

      const odd = cluster.endpoints[1]!;
      await cluster.stopMember(1);
      let deleted: Record<string, unknown>;
      try {
        deleted = await bboltEdit(['-db', cluster.members[1]!.dataDir, 'delete', '/data/k0003']);
      } finally {
        await cluster.startMember(1);
      }
      assert.equal(deleted.remainingRevisions, 0, 'the key had one revision: the member now lacks it');

      const check = (r: FeatureRun): void => {
        const d = detailsOf(r);
        assert.equal(r.ok, true, r.error);
        assert.equal(d.keyDiff, 1n, r.summary);
        const others = cluster.endpoints.filter((u) => u !== odd).map((u) => member(r, u).keys!);
        assert.equal(others[0], others[1]);
        assert.equal(member(r, odd).keys, others[0]! - 1n);
        assert.deepEqual(
          d.members.filter((m) => m.hashState === 'mismatch').map((m) => m.endpoint),
          [hostPort(odd)],
        );
        assert.ok(r.problems.some((p) => p.startsWith(`key counts differ at revision ${d.checkedRevision}`)));
        assert.ok(r.problems.some((p) => p.startsWith(`member ${hostPort(odd)}: hash`)));
      };
      const flagged = await cur.next(
        (r, d) => r.ok && d.keyDiff === 1n && d.hash === 'mismatch',
        'current: missing key found',
      );
      check(flagged);
      assert.equal(
        member(flagged, odd).keys,
        await etcdctlCount(cluster, odd, detailsOf(flagged).checkedRevision!),
        'etcd agrees with the count of the odd member',
      );
      // A later round may have failed under load (no verdict exported then): wait for one with a verdict.
      const m = await eventually(async () => {
        const series = await scrape(address);
        return series.get('inspection_etcd_node_diff_total{clusterName="cur"}') !== undefined
          ? series
          : undefined;
      }, 'a scrape with a verdict');
      assert.equal(m.get('inspection_etcd_node_diff_total{clusterName="cur"}'), 1);
      assert.equal(
        m.get(`inspection_etcd_endpoint_hash_mismatch{clusterName="cur",endpoint="${hostPort(odd)}"}`),
        1,
      );
      assert.equal(
        m.get(`inspection_etcd_consistency_member_keys{clusterName="cur",endpoint="${hostPort(odd)}"}`)! + 1,
        m.get(
          `inspection_etcd_consistency_member_keys{clusterName="cur",endpoint="${hostPort(cluster.endpoints[0]!)}"}`,
        ),
      );
      if (cachesHashes) {
        await compactAndWait(client, cmp, (d) => d.hash === 'mismatch', 'compacted: missing key found');
        check(cmp.last!);
      }

      if (version === '3.6') {
        // The one-shot CLI finds it too: exit 1, the member named.
        const report = await inspectConsistency(cluster.endpoints[0]!, [], 1);
        assert.equal(report.ok, false);
        assert.equal(report.cluster.inspections.consistency?.last.ok, true);
        assert.ok(
          report.problems.some((p) => p.includes(hostPort(odd)) && p.includes('hash')),
          report.problems.join('\n'),
        );
        assert.ok(
          report.problems.some((p) => p.startsWith('key counts differ')),
          report.problems.join('\n'),
        );
        // Its why section names that member for both, critical, with their runbooks.
        const why = report.why
          .filter((w) => w.feature === 'consistency')
          .map((w) => [w.member.split(' ')[0], w.cause, w.severity, w.runbook]);
        assert.deepEqual(
          why.sort(),
          [
            [hostPort(odd), 'divergent data', 'critical', 'EtcdMemberHashMismatch'],
            [hostPort(odd), 'divergent keys', 'critical', 'EtcdMemberKeyCountDivergence'],
          ],
          JSON.stringify(report.why),
        );
      }
    });
  });
}

for (const version of ['3.4', '3.6'] as EtcdVersion[]) {
  describe(`consistency on etcd ${version}: two members that differ`, () => {
    test('no majority: both members are flagged and the problem says so', async (t) => {
      const { cluster } = await preloadedCluster(t, { version, members: 2, name: 'tie', keys: 20 });
      await cluster.stopMember(1);
      try {
        await bboltEdit(['-db', cluster.members[1]!.dataDir, 'set-value', '/data/k0002', 'value-X']);
      } finally {
        await cluster.startMember(1);
      }
      const { daemon, address } = await startInspectionServer(t);
      const rounds = new Rounds(daemon, 'tie');
      t.after(() => rounds.close());
      await daemon.engine.upsert(
        specFor('tie', cluster, { consistency: consistency({ hashRevision: 'current' }) }),
      );
      const r = await rounds.next((run, d) => run.ok && d.hash === 'mismatch', 'mismatch');
      assert.deepEqual(
        detailsOf(r).members.map((m) => m.hashState),
        ['mismatch', 'mismatch'],
      );
      assert.equal(r.problems.length, 1);
      assert.match(r.problems[0]!, /^hashes at revision \d+ differ with no majority: /);
      const flags = family(await scrape(address), 'inspection_etcd_endpoint_hash_mismatch');
      for (const url of cluster.endpoints)
        assert.equal(flags.get(`{clusterName="tie",endpoint="${hostPort(url)}"}`), 1);
    });
  });
}

describe('etcd-monitor inspect --features consistency on a healthy cluster', () => {
  test('exit 0; the table shows the inspection and the verdict', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 3, tls: true, name: 'consinspect' });
    const tls = tlsFlags(cluster.tls!);
    const report = await inspectConsistency(cluster.endpoints[0]!, tls, 0);
    assert.equal(report.ok, true);
    const last = report.cluster.inspections.consistency!.last as ConsistencyRun;
    assert.equal(last.ok, true);
    assert.equal(last.details.keyDiff, '0');
    assert.equal(last.details.members.length, 3);
    // Default features include consistency.
    const table = await cli(['inspect', '--endpoints', cluster.endpoints[0]!, ...tls]);
    assert.equal(table.code, 0, table.stderr + table.stdout);
    assert.match(table.stdout, /^consistency +ok +3 member\(s\) hold \d+ keys at revision \d+/m);
    assert.match(table.stdout, /RESULT: OK/);
  });
});

describe('consistency on a v2 cluster (3.4, --enable-v2)', () => {
  test('under v2 writes: counts compared at one v2 index, index lag reported, no v3 hash; a stopped member gives no verdict', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.4', members: 3, enableV2: true, name: 'consv2' });
    const v2: EtcdV2MemberClient = createV2MemberClient(
      parseEndpoint(cluster.endpoints[0]!),
      clientOptionsFor(cluster),
    );
    t.after(() => v2.close());
    let seedIndex = 0n;
    for (let i = 0; i < 20; i++) seedIndex = await v2.set(`/app/seed/${i}`, `v${i}`);
    const { daemon, address } = await startInspectionServer(t);
    const rounds = new Rounds(daemon, 'v2');
    t.after(() => rounds.close());
    // The writer below is as fast as one client goes (hundreds of writes/s, far more than v2
    // clusters see): more attempts than the default to find one index all members answer at.
    await daemon.engine.upsert(
      specFor(
        'v2',
        cluster,
        { consistency: consistency({ prefix: '/app', v2CountAttempts: 10 }) },
        { storageBackend: 'v2' },
      ),
    );

    let stopped = false;
    const writeIndexes: bigint[] = [];
    const writer = (async () => {
      for (let n = 0; !stopped; n++) writeIndexes.push(await v2.set(`/app/load/${n}`, 'x'));
    })();
    const written = (): number => writeIndexes.length;
    // On a loaded machine the members may apply the writes far apart, and a round may find no index
    // they all answer at in its attempts: that round says so and gives no verdict (never a wrong one).
    // Such rounds are allowed; any other failure is not, and five rounds must reach a verdict.
    const inFlight =
      /answered at different v2 indexes in all \d+ attempt\(s\) \(writes in flight\): counts not compared/;
    const from = rounds.runs.length;
    let runs: FeatureRun[];
    try {
      runs = await eventually(
        () => {
          const after = rounds.runs.slice(from);
          const other = after.find((r) => !r.ok && !inFlight.test(r.error ?? ''));
          assert.equal(other, undefined, `a round failed otherwise: ${other?.error}`);
          const ok = after.filter((r) => r.ok);
          return ok.length >= 5 ? ok.slice(0, 5) : undefined;
        },
        'five rounds with a verdict under writes',
        120_000,
      );
    } finally {
      stopped = true;
      await writer;
    }
    const writesEnded = Date.now();
    let previous = 0n;
    for (const r of runs) {
      const d = detailsOf(r);
      assert.equal(d.backend, 'v2');
      assert.equal(d.keyDiff, 0n, r.summary);
      assert.notEqual(d.v2IndexDiff, null);
      assert.equal(d.hash, 'not-checked');
      assert.ok(d.checkedRevision! > previous, 'the common index moves with the writes');
      previous = d.checkedRevision!;
      // At index X the store holds the seeds and every write the writer got an index <= X for.
      assert.ok(d.checkedRevision! >= seedIndex);
      const expected = BigInt(20 + writeIndexes.filter((i) => i <= d.checkedRevision!).length);
      for (const m of d.members)
        assert.equal(m.keys, expected, `${m.endpoint} at index ${d.checkedRevision}`);
    }
    // Once the writes stop, every member counts exactly what was written.
    const settled = await rounds.next(
      (r) => r.ok && r.startedAt.getTime() > writesEnded,
      'a round after the writes',
    );
    for (const m of detailsOf(settled).members) assert.equal(m.keys, BigInt(20 + written()), m.endpoint);
    const m = await scrape(address);
    assert.equal(m.get('inspection_etcd_node_diff_total{clusterName="v2"}'), 0);
    assert.ok(m.has('inspection_etcd_node_index_diff_total{clusterName="v2"}'));
    assert.equal(m.has('inspection_etcd_consistency_hash_mismatch{clusterName="v2"}'), false);
    assert.equal(m.has('inspection_etcd_node_revision_diff_total{clusterName="v2"}'), false);

    await cluster.stopMember(2);
    const stoppedAt = Date.now();
    const failed = await rounds.next(
      (r) => !r.ok && r.startedAt.getTime() > stoppedAt,
      'no verdict with a member down',
    );
    assert.match(failed.error ?? '', new RegExp(hostPort(cluster.endpoints[2]!).replace(/\./g, '\\.')));
    const after = await scrape(address);
    assert.equal(after.has('inspection_etcd_node_diff_total{clusterName="v2"}'), false);
    assert.equal(after.has('inspection_etcd_node_index_diff_total{clusterName="v2"}'), false);
    assert.ok(after.get('inspection_failed_num{clusterName="v2",inspectionType="consistency"}')! >= 1);
  });
});
