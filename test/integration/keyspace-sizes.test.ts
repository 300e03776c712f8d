/**
 * Keyspace sizes (request option `sizes`) on real etcd: a Kubernetes-like
 * keyspace (/registry/<resource>/<namespace>/<name>, cluster-scoped
 * resources, a custom resource group) is scanned at a pinned revision,
 * paced; then bytes per resource, average and largest object and the top
 * keys stay exact across updates, deletes (of the largest key too), a
 * restart of the member the watch is on, and a re-scan once the kept
 * largest keys run out. The ground truth is computed from `etcdctl get -w
 * json`, never from the feature.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import type { RequestDetails } from '../../src/features/request/request.ts';
import type { EtcdVersion, TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { cli } from '../support/cli.ts';
import { scrape } from '../support/scrape.ts';
import { clientOptionsFor, every, hostPort, specFor } from '../support/specs.ts';
import { startInspectionServer } from '../support/inspection-server.ts';
import { clusterForTest, v3ClientFor } from '../support/clusters.ts';

const TOP = 5;
const RATE = 256 * 1024;
const PAGE_KEYS = 40;
const MAX_VALUE = 20_000;

/** The resource of a key of this test's layout, written out by hand. */
function resourceOf(key: string): string {
  const [, , first, second] = key.split('/');
  return first!.includes('.') ? `${second}.${first}` : first!;
}

interface Truth {
  readonly resources: Map<string, { keys: number; bytes: number; largest: number; largestKey: string }>;
  readonly top: { key: string; bytes: number }[];
  readonly revision: bigint;
}

/** Sizes as etcd has them: key + value bytes of every key under /registry/. */
async function groundTruth(cluster: TestCluster): Promise<Truth> {
  const out = JSON.parse(
    await cluster.etcdctl(['get', '--prefix', '/registry/', '-w', 'json'], { timeoutMs: 60_000 }),
  ) as { header: { revision: number }; kvs?: { key: string; value?: string }[] };
  const resources: Truth['resources'] = new Map();
  const all: { key: string; bytes: number }[] = [];
  for (const kv of out.kvs ?? []) {
    const key = Buffer.from(kv.key, 'base64');
    const bytes = key.length + Buffer.from(kv.value ?? '', 'base64').length;
    const name = key.toString();
    all.push({ key: name, bytes });
    const r = resourceOf(name);
    const known = resources.get(r) ?? { keys: 0, bytes: 0, largest: 0, largestKey: '' };
    known.keys++;
    known.bytes += bytes;
    if (bytes > known.largest) {
      known.largest = bytes;
      known.largestKey = name;
    }
    resources.set(r, known);
  }
  all.sort((a, b) => b.bytes - a.bytes || (a.key < b.key ? -1 : 1));
  return { resources, top: all.slice(0, TOP), revision: BigInt(out.header.revision) };
}

function assertMatches(details: RequestDetails, truth: Truth, when: string): void {
  const sizes = details.sizes;
  assert.ok(sizes !== null, `${when}: sizes reported`);
  for (const [resource, want] of truth.resources) {
    const got = details.resources.find((r) => r.resourceName === resource);
    assert.ok(got !== undefined, `${when}: resource ${resource} reported`);
    assert.equal(got.keys, want.keys, `${when}: keys of ${resource}`);
    assert.equal(got.bytes, want.bytes, `${when}: bytes of ${resource}`);
    assert.equal(got.averageBytes, want.bytes / want.keys, `${when}: average of ${resource}`);
    assert.deepEqual(
      got.largest,
      { key: want.largestKey, bytes: want.largest },
      `${when}: largest of ${resource}`,
    );
  }
  for (const r of details.resources)
    if (!truth.resources.has(r.resourceName))
      assert.equal(r.bytes, 0, `${when}: ${r.resourceName} has no keys left, so no bytes`);
  assert.equal(
    sizes.totalBytes,
    [...truth.resources.values()].reduce((n, r) => n + r.bytes, 0),
    `${when}: total bytes`,
  );
  assert.ok(sizes.topKeysExact, `${when}: top keys exact`);
  assert.deepEqual(
    sizes.topKeys.map((k) => ({ key: k.key, bytes: k.bytes })),
    truth.top,
    `${when}: top ${TOP} keys`,
  );
}

/** Distinct sizes (no ties in the ranking), deterministic. */
function sizedValue(i: number, max: number): string {
  return 'x'.repeat(((i * 7919) % max) + 1 + i);
}

for (const version of ['3.6', '3.4'] as EtcdVersion[]) {
  describe(`keyspace sizes on etcd ${version}`, () => {
    test('exact against etcdctl across a paced scan, updates, deletes, a member restart and a re-scan', async (t) => {
      const cluster = await clusterForTest(t, { version, members: 3, name: `ks${version.replace('.', '')}` });
      const client = v3ClientFor(t, cluster);
      const writer = {
        client,
        async put(key: string, value: string): Promise<bigint> {
          return (await this.client.put(key, value)).revision;
        },
        async del(key: string): Promise<bigint> {
          return (await this.client.deleteRange(key)).header.revision;
        },
      };

      // A Kubernetes-like keyspace of about 2 MB.
      let i = 0;
      const writes: Promise<bigint>[] = [];
      for (let n = 0; n < 120; n++)
        writes.push(writer.put(`/registry/pods/ns${n % 4}/pod-${n}`, sizedValue(i++, 9000)));
      for (let n = 0; n < 40; n++)
        writes.push(writer.put(`/registry/configmaps/ns${n % 3}/cm-${n}`, sizedValue(i++, MAX_VALUE)));
      for (let n = 0; n < 30; n++)
        writes.push(writer.put(`/registry/secrets/ns${n % 3}/s-${n}`, sizedValue(i++, 4000)));
      for (let n = 0; n < 60; n++)
        writes.push(writer.put(`/registry/events/ns0/ev-${n}`, sizedValue(i++, 600)));
      for (let n = 0; n < 5; n++)
        writes.push(writer.put(`/registry/namespaces/ns${n}`, sizedValue(i++, 300)));
      for (let n = 0; n < 10; n++)
        writes.push(writer.put(`/registry/apps.example.com/widgets/ns1/w-${n}`, sizedValue(i++, 12_000)));
      await Promise.all(writes);

      const { daemon, address } = await startInspectionServer(t);
      const options = {
        sizes: true,
        topKeys: TOP,
        scanBytesPerSecond: RATE,
        countPageSize: PAGE_KEYS,
        sizeRescanMinIntervalSeconds: 0,
      };
      await daemon.engine.upsert(specFor('ks', cluster, { request: every(1, options) }));
      const details = () =>
        daemon.store.get('ks')?.features['request']?.last?.details as RequestDetails | undefined;

      // The scan, as the rounds report it: never more than the rate allows. A round's figure was
      // taken between its start and its end, so the bound is from one's start to the other's end.
      const seen = new Map<number, { startMs: number; endMs: number; bytes: number }>();
      await eventually(
        () => {
          const run = daemon.store.get('ks')?.features['request']?.last;
          const d = run?.details as RequestDetails | undefined;
          if (run !== undefined && d?.sizes != null && !d.ready) {
            const startMs = run.startedAt.getTime();
            seen.set(startMs, { startMs, endMs: startMs + run.durationMs, bytes: d.sizes.scanningBytes });
          }
          return d?.ready === true;
        },
        'the initial scan',
        120_000,
        50,
      );
      const looks = [...seen.values()];
      assert.ok(looks.length >= 2, `the scan took several rounds (${looks.length})`);
      // Two pages at most beyond the rate between two looks: the one in flight and the one begun.
      const slack = 2 * PAGE_KEYS * (MAX_VALUE + 300);
      for (const [a, b] of looks.flatMap((x, k) => looks.slice(k + 1).map((y) => [x, y] as const)))
        assert.ok(
          b.bytes - a.bytes <= (RATE * (b.endMs - a.startMs)) / 1000 + slack,
          `${b.bytes - a.bytes} bytes in ${Math.round(b.endMs - a.startMs)} ms`,
        );
      const truth0 = await groundTruth(cluster);
      const scanned = await eventually(() => {
        const d = details();
        return d !== undefined && d.processedRevision >= truth0.revision ? d : undefined;
      }, 'the scan at the revision of the ground truth');
      assertMatches(scanned, truth0, 'after the scan');
      assert.ok(truth0.top[0]!.bytes > 10_000);

      const waitFor = async (revision: bigint, what: string): Promise<RequestDetails> =>
        eventually(
          () => {
            const d = details();
            return d !== undefined && d.processedRevision >= revision && d.state === 'watching'
              ? d
              : undefined;
          },
          what,
          60_000,
        );

      // Updates that grow and shrink, new keys, deletes (the largest key among them).
      await writer.put('/registry/pods/ns0/pod-3', 'y'.repeat(15_000));
      await writer.put('/registry/configmaps/ns1/cm-1', 'small');
      await writer.put('/registry/pods/ns2/new-pod', 'z'.repeat(777));
      await writer.del(truth0.top[0]!.key);
      await writer.del('/registry/events/ns0/ev-1');
      const r1 = await writer.put('/registry/namespaces/ns9', 'ns');
      assertMatches(
        await waitFor(r1, 'the updates'),
        await groundTruth(cluster),
        'after updates and deletes',
      );

      // The member the watch is on stops; writes go on; it comes back.
      const on = details()!.member;
      const index = cluster.members.findIndex((m) => hostPort(m.clientURL) === on);
      assert.ok(index >= 0, `the watch is on a member: ${on}`);
      await cluster.stopMember(index);
      const other = createV3MemberClient(
        parseEndpoint(cluster.members[(index + 1) % 3]!.clientURL),
        clientOptionsFor(cluster),
      );
      t.after(() => other.close());
      writer.client = other;
      await writer.put('/registry/secrets/ns0/s-2', 's'.repeat(3333));
      await writer.del('/registry/pods/ns1/pod-5');
      await writer.put('/registry/apps.example.com/widgets/ns1/w-new', 'w'.repeat(12_345));
      await cluster.startMember(index);
      const r2 = await writer.put('/registry/events/ns0/ev-late', 'late');
      assertMatches(
        await waitFor(r2, 'the writes across the restart'),
        await groundTruth(cluster),
        'across a member restart',
      );

      // Delete the kept reserve of largest keys: the ranking runs out, a re-scan at the processed revision restores it.
      const before = details()!.sizes!.rescans;
      const truth2 = await groundTruth(cluster);
      const all = JSON.parse(
        await cluster.etcdctl(['get', '--prefix', '/registry/', '--keys-only', '-w', 'json']),
      ) as { kvs: { key: string }[] };
      assert.ok(all.kvs.length > 3 * TOP);
      let last = 0n;
      for (const k of truth2.top) last = await writer.del(k.key);
      // The next largest ones too: 2 x TOP are kept, so deleting them exhausts the ranking.
      const truth3 = await groundTruth(cluster);
      for (const k of truth3.top) last = await writer.del(k.key);
      const rescanned = await eventually(
        () => {
          const d = details();
          return d !== undefined &&
            d.sizes!.rescans > before &&
            d.processedRevision >= last &&
            d.sizes!.complete
            ? d
            : undefined;
        },
        'a sizes re-scan',
        120_000,
      );
      assertMatches(rescanned, await groundTruth(cluster), 'after the re-scan');
      assert.equal(rescanned.recounts, 0, 'a re-scan is not a re-count after compaction');

      // The status page shows the resources and the largest keys.
      const page = await (await fetch(`http://${address}/`)).text();
      assert.match(page, /<h3>Keyspace: [\d.]+ [KM]iB<\/h3>/);
      assert.ok(page.includes(rescanned.sizes!.topKeys[0]!.key), 'the largest key on the status page');

      const metrics = await scrape(address);
      const pods = truth2.resources.get('pods')!;
      assert.ok(pods.bytes > 0);
      assert.equal(
        metrics.get('inspection_etcd_request_sizes_complete{clusterName="ks"}'),
        1,
        'sizes complete after the re-scan',
      );
      assert.ok(
        (metrics.get(
          'inspection_etcd_resource_bytes{clusterName="ks",etcdPrefix="registry",resourceName="pods"}',
        ) ?? 0) > 0,
      );
    });
  });
}

describe('inspect --keyspace-sizes', () => {
  test('prints bytes per resource and the largest keys', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 1, name: 'ksinspect' });
    const client = v3ClientFor(t, cluster);
    await client.put('/registry/pods/ns/small', 'x'.repeat(100));
    await client.put('/registry/pods/ns/big', 'x'.repeat(5000));
    await client.put('/registry/secrets/ns/s', 'x'.repeat(300));
    const r = await cli([
      'inspect',
      '--endpoints',
      cluster.endpoints[0]!,
      '--features',
      'healthy',
      '--keyspace-sizes',
    ]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const truth = await groundTruth(cluster);
    assert.match(r.stdout, /KEYSPACE 5\.[0-9] KiB \(key \+ value as stored\)/);
    const pods = truth.resources.get('pods')!;
    assert.match(r.stdout, new RegExp(`pods\\s+2\\s+.*/registry/pods/ns/big`));
    assert.equal(pods.largestKey, '/registry/pods/ns/big');
    assert.match(r.stdout, /LARGEST KEYS\n.*\n\/registry\/pods\/ns\/big\s+/);
  });
});
