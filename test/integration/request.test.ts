/**
 * The request feature on real etcd 3.4 and 3.6: exact request and key
 * counts across a member stop and restart under continuous writes, a
 * re-count after a compaction past the watch position, the cardinality cap,
 * and the watch stopping when the feature is disabled or the cluster removed.
 *
 * Expected values come from a model of the writes the test makes (each key
 * with the resource name the layout gives it, written out by hand), never
 * from the feature.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { etcdClients } from '../../src/engine/clients.ts';
import { ClusterConnection } from '../../src/engine/connection.ts';
import { InspectionServer } from '../../src/inspection-server.ts';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import type { EtcdV3MemberClient } from '../../src/etcd/types.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import { featureRegistry } from '../../src/features/index.ts';
import type { RequestDetails } from '../../src/features/request/request.ts';
import { silentLogger } from '../../src/log.ts';
import { freePort, startEtcdCluster, type EtcdVersion, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { family, scrape } from '../support/scrape.ts';
import { clientOptionsFor, every, featureSpecs, hostPort, specFor } from '../support/specs.ts';
import { startInspectionServer } from '../support/inspection-server.ts';

/** What the test wrote, and so what the feature must report. */
class Model {
  readonly live = new Map<string, string>();
  readonly puts = new Map<string, number>();
  readonly deletes = new Map<string, number>();
  lastRevision = 0n;
  ops = 0;
  /** Where the writes go. */
  client: EtcdV3MemberClient;
  /** Counting requests starts once the feature has counted the keys. */
  counting = false;

  constructor(client: EtcdV3MemberClient) {
    this.client = client;
  }

  async put(key: string, resource: string): Promise<void> {
    const header = await this.client.put(key, `v${this.ops}`);
    this.ops++;
    this.live.set(key, resource);
    if (this.counting) this.puts.set(resource, (this.puts.get(resource) ?? 0) + 1);
    this.lastRevision = header.revision;
  }

  async delete(key: string): Promise<void> {
    const resource = this.live.get(key);
    assert.ok(resource !== undefined, `${key} is not live`);
    const { header, deleted } = await this.client.deleteRange(key);
    assert.equal(deleted, 1n);
    this.ops++;
    this.live.delete(key);
    if (this.counting) this.deletes.set(resource, (this.deletes.get(resource) ?? 0) + 1);
    this.lastRevision = header.revision;
  }

  keys(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.live.values()) out.set(r, (out.get(r) ?? 0) + 1);
    return out;
  }

  /** The expected series of both families, for clusterName `name` and etcdPrefix `prefix`. */
  expected(
    name: string,
    prefix: string,
    resources: readonly string[],
  ): { requests: Map<string, number>; keys: Map<string, number> } {
    const keys = this.keys();
    const requests = new Map<string, number>();
    const keyTotals = new Map<string, number>();
    for (const r of resources) {
      requests.set(
        `{clusterName="${name}",grpcMethod="PUT",etcdPrefix="${prefix}",resourceName="${r}"}`,
        this.puts.get(r) ?? 0,
      );
      requests.set(
        `{clusterName="${name}",grpcMethod="DELETE",etcdPrefix="${prefix}",resourceName="${r}"}`,
        this.deletes.get(r) ?? 0,
      );
      keyTotals.set(`{clusterName="${name}",etcdPrefix="${prefix}",resourceName="${r}"}`, keys.get(r) ?? 0);
    }
    return { requests, keys: keyTotals };
  }
}

/** Key shapes of the Kubernetes layout, with the resource name each must be counted under. */
const SHAPES: readonly { readonly resource: string; readonly key: (i: number) => string }[] = [
  { resource: 'pods', key: (i) => `/registry/pods/ns${i % 3}/pod-${i}` },
  { resource: 'configmaps', key: (i) => `/registry/configmaps/kube-system/cm.${i}` },
  { resource: 'namespaces', key: (i) => `/registry/namespaces/ns-${i}` },
  { resource: 'etcdclusters.etcdmonitor.dev', key: (i) => `/registry/etcdmonitor.dev/etcdclusters/ns/x${i}` },
  {
    resource: 'apiservices.apiregistration.k8s.io',
    key: (i) => `/registry/apiregistration.k8s.io/apiservices/v${i}.apps`,
  },
  { resource: 'unknown', key: (i) => `/registry/lone-key-${i}` },
];
const RESOURCES = SHAPES.map((s) => s.resource);

/** The i-th operation of a deterministic mix: creates, updates (no key count change) and deletes. */
async function step(model: Model, i: number, prefix = '/registry'): Promise<void> {
  const shape = SHAPES[i % SHAPES.length]!;
  const mine = [...model.live].filter(([, r]) => r === shape.resource).map(([k]) => k);
  const kind = i % 7;
  const key = (n: number): string => prefix + shape.key(n).slice('/registry'.length);
  if (kind <= 3 || mine.length === 0) await model.put(key(i), shape.resource);
  else if (kind <= 4) await model.put(mine[i % mine.length]!, shape.resource);
  else await model.delete(mine[0]!);
}

function requestDetails(daemon: InspectionServer, id: string): RequestDetails | undefined {
  const details = daemon.store.get(id)?.features['request']?.last?.details;
  return typeof details === 'object' && details !== null && 'processedRevision' in details
    ? (details as RequestDetails)
    : undefined;
}

/** Total etcd watchers over the members that are up (etcd's own metric). */
async function etcdWatchers(cluster: TestCluster): Promise<number> {
  let total = 0;
  for (const m of cluster.members) {
    if (!m.running) continue;
    const text = await (await fetch(`${m.clientURL}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
    const line = text.split('\n').find((l) => l.startsWith('etcd_debugging_mvcc_watcher_total '));
    assert.ok(line !== undefined, 'etcd exports etcd_debugging_mvcc_watcher_total');
    total += Number(line.split(' ')[1]);
  }
  return total;
}

async function leaderIndex(cluster: TestCluster, clients: readonly EtcdV3MemberClient[]): Promise<number> {
  return eventually(
    async () => {
      for (let i = 0; i < clients.length; i++) {
        if (!cluster.members[i]!.running) continue;
        const s = await clients[i]!.status();
        if (s.leader !== 0n && s.leader === s.header.memberId) return i;
      }
      return undefined;
    },
    'a leader',
    15_000,
  );
}

for (const version of ['3.4', '3.6'] as EtcdVersion[]) {
  describe(`request on etcd ${version}`, () => {
    let cluster: TestCluster;
    let daemon: InspectionServer;
    let address: string;
    let clients: EtcdV3MemberClient[];

    before(async () => {
      cluster = await startEtcdCluster({ version, members: 3, name: `rq${version.replace('.', '')}` });
      clients = cluster.endpoints.map((e) =>
        createV3MemberClient(parseEndpoint(e), clientOptionsFor(cluster)),
      );
      daemon = new InspectionServer({ logger: silentLogger(), registry: featureRegistry, jitter: false });
      address = await daemon.listen('127.0.0.1:0');
    });
    after(async () => {
      await daemon?.close();
      for (const c of clients ?? []) c.close();
      await cluster?.stop();
    });

    const memberIndex = (endpoint: string): number =>
      cluster.endpoints.findIndex((u) => hostPort(u) === endpoint);

    /** Waits until the feature has processed everything the model wrote, with its watch up. */
    const caughtUp = (id: string, model: Model, what: string): Promise<RequestDetails> =>
      eventually(
        () => {
          const d = requestDetails(daemon, id);
          return d?.ready && d.state === 'watching' && d.processedRevision >= model.lastRevision
            ? d
            : undefined;
        },
        what,
        20_000,
      );

    const assertExact = async (
      id: string,
      prefix: string,
      model: Model,
      resources: readonly string[],
    ): Promise<void> => {
      const series = await scrape(address);
      const mine = (name: string): Map<string, number> =>
        new Map([...family(series, name)].filter(([k]) => k.includes(`clusterName="${id}"`)));
      const want = model.expected(id, prefix, resources);
      assert.deepEqual(mine('inspection_etcd_request_total'), want.requests, 'inspection_etcd_request_total');
      assert.deepEqual(mine('inspection_etcd_key_total'), want.keys, 'inspection_etcd_key_total');
    };

    test('exact request and key counts while the watch member stops and restarts under continuous writes', async (t) => {
      t.after(() => daemon.engine.remove('restart'));
      // Keys present before the feature starts: in key_total, not in request_total.
      let leader = await leaderIndex(cluster, clients);
      const model = new Model(clients[leader]!);
      for (let i = 0; i < 40; i++)
        await model.put(SHAPES[i % SHAPES.length]!.key(1000 + i), SHAPES[i % SHAPES.length]!.resource);
      // Never counted: outside the watched prefix, or a neighbour of it.
      await clients[leader]!.put('/registryx/pods/ns/a', 'v');
      await clients[leader]!.put('/other/pods/ns/a', 'v');

      // Small pages so that the initial count really pages.
      await daemon.engine.upsert(specFor('restart', cluster, { request: every(1, { countPageSize: 7 }) }));
      const first = await caughtUp('restart', model, 'the initial count and watch');
      model.counting = true;
      await assertExact('restart', 'registry', model, RESOURCES);
      assert.equal(first.watchRestarts, 0);

      const watched = memberIndex(first.member);
      assert.ok(watched >= 0, `the watch is on a member of the cluster (${first.member})`);
      // Writes go to a member that stays up (the watch prefers a follower, so normally the leader).
      leader = await leaderIndex(cluster, clients);
      const writeTo = leader !== watched ? leader : (watched + 1) % 3;
      model.client = clients[writeTo]!;
      t.after(async () => {
        if (cluster.members[watched]!.running) return;
        await cluster.startMember(watched);
        await cluster.waitHealthy();
      });

      let stop = false;
      let written = 0;
      const deadline = Date.now() + 60_000;
      const writing = (async () => {
        for (let i = 0; !stop && i < 5000 && Date.now() < deadline; i++) {
          await step(model, i);
          written++;
        }
      })();
      try {
        await eventually(() => (written >= 30 ? true : undefined), 'writes under way');
        await cluster.stopMember(watched);
        const resumed = await eventually(
          () => {
            const d = requestDetails(daemon, 'restart');
            return d !== undefined &&
              d.state === 'watching' &&
              d.member !== first.member &&
              d.watchRestarts >= 1
              ? d
              : undefined;
          },
          'the watch resumed on another member',
          20_000,
        );
        assert.notEqual(memberIndex(resumed.member), watched);
        const before = written;
        await eventually(
          () => (written >= before + 30 ? true : undefined),
          'writes continuing while the member is down',
        );
        await cluster.startMember(watched);
        await cluster.waitHealthy();
        const restarted = written;
        await eventually(() => (written >= restarted + 30 ? true : undefined), 'writes after the restart');
      } finally {
        stop = true;
        await writing;
      }
      const done = await caughtUp('restart', model, 'every write processed');
      assert.ok(written >= 90, `${written} writes`);
      await assertExact('restart', 'registry', model, RESOURCES);
      assert.equal(done.duplicatesSkipped, 0, 'the resume started after the last processed revision');
      const series = await scrape(address);
      assert.ok(
        (series.get('inspection_etcd_request_watch_restarts_total{clusterName="restart"}') ?? 0) >= 1,
      );
      assert.equal(series.get('inspection_etcd_request_recounts_total{clusterName="restart"}'), 0);
      // Caught up and no more writes: no lag.
      await eventually(async () => {
        const s = await scrape(address);
        return s.get('inspection_etcd_request_watch_lag_revisions{clusterName="restart"}') === 0 &&
          s.get('inspection_etcd_request_watch_lag_seconds{clusterName="restart"}') === 0
          ? true
          : undefined;
      }, 'no lag once caught up');
      assert.equal(series.get('inspection_etcd_request_ready{clusterName="restart"}'), 1);
      const processedEvents = [...model.puts.values(), ...model.deletes.values()].reduce((a, b) => a + b, 0);
      assert.equal(
        series.get('inspection_etcd_request_events_processed_total{clusterName="restart"}'),
        processedEvents,
      );
      assert.equal(processedEvents, written);
    });

    test('a compaction past the watch position leads to a re-count: exact key totals, counter incremented', async (t) => {
      t.after(() => daemon.engine.remove('compact'));
      const leader = await leaderIndex(cluster, clients);
      const model = new Model(clients[leader]!);
      const prefix = '/kube';
      const resources = SHAPES.map((s) => s.resource);
      for (let i = 0; i < 20; i++) await step(model, i, prefix);
      await daemon.engine.upsert(specFor('compact', cluster, { request: every(1, { prefixes: [prefix] }) }));
      await caughtUp('compact', model, 'the initial count');
      model.counting = true;
      for (let i = 20; i < 60; i++) await step(model, i, prefix);
      const batchA = await caughtUp('compact', model, 'batch A processed');
      await assertExact('compact', 'kube', model, resources);

      // Freeze the member the watch is on: its stream stops delivering, without failing.
      // Writes and the compaction go through the leader (a follower would forward them).
      const leaderNow = await leaderIndex(cluster, clients);
      model.client = clients[leaderNow]!;
      const watched = memberIndex(batchA.member);
      assert.notEqual(watched, leaderNow, 'the watch is on a follower');
      t.after(async () => {
        if (cluster.members[watched]!.running) return;
        await cluster.startMember(watched);
        await cluster.waitHealthy();
      });
      // Resolves once every thread of the member is stopped: a member still
      // running after kill(SIGSTOP) returned delivered the first writes of
      // batch B to the watch, and they were counted.
      await cluster.pauseMember(watched);
      let killed = false;
      try {
        // The watch did not move away before the pause held: batch B cannot reach it.
        const paused = requestDetails(daemon, 'compact')!;
        assert.equal(paused.member, batchA.member, 'the watch is still on the paused member');
        assert.equal(paused.watchRestarts, batchA.watchRestarts, 'the watch did not restart');
        // Batch B, then a compaction past the watch position.
        model.counting = false;
        for (let i = 60; i < 100; i++) await step(model, i, prefix);
        await model.client.compact(model.lastRevision);
        // The stalled watch shows as lag: the leader's revision moved, the processed one did not.
        // (The leader's revision is sampled at most once a second: wait for a sample after batch B.)
        const stalled = await eventually(
          () => {
            const d = requestDetails(daemon, 'compact');
            return d !== undefined && d.clusterRevision >= model.lastRevision && d.lagSeconds > 0
              ? d
              : undefined;
          },
          'the lag of the stalled watch',
          10_000,
        );
        assert.equal(stalled.processedRevision, batchA.processedRevision, 'nothing processed while paused');
        assert.equal(stalled.lagRevisions, stalled.clusterRevision - stalled.processedRevision);
        // The member dies still paused (killMember does not continue it): the stream fails and the
        // watch resumes elsewhere, at a compacted revision.
        await cluster.killMember(watched);
        killed = true;
      } finally {
        if (!killed) cluster.resumeMember(watched);
      }
      const recounted = await eventually(
        () => {
          const d = requestDetails(daemon, 'compact');
          return d !== undefined && d.recounts === 1 && d.state === 'watching' ? d : undefined;
        },
        'a re-count after the compaction',
        20_000,
      );
      assert.ok(recounted.recountGapRevisions > 0n);
      // The unknowable gap starts right after the last event the watch processed before the pause.
      assert.equal(
        recounted.prefixes[0]!.countRevision - recounted.recountGapRevisions,
        batchA.processedRevision,
        'the re-count gap begins after the revision processed before the pause',
      );
      assert.ok(recounted.processedRevision >= model.lastRevision, 'counted at or after the compaction');
      await assertExact('compact', 'kube', model, resources);
      // Batch B's requests are unknowable; batch C's are counted.
      model.counting = true;
      for (let i = 100; i < 140; i++) await step(model, i, prefix);
      await caughtUp('compact', model, 'batch C processed');
      await assertExact('compact', 'kube', model, resources);
      const series = await scrape(address);
      assert.equal(series.get('inspection_etcd_request_recounts_total{clusterName="compact"}'), 1);
    });

    test('cardinality cap: thousands of distinct resource names keep the label set bounded', async (t) => {
      t.after(() => daemon.engine.remove('many'));
      const leader = clients[await leaderIndex(cluster, clients)]!;
      const N = 3000;
      const cap = 50;
      const put = async (from: number, to: number): Promise<bigint> => {
        let last = 0n;
        let next = from;
        await Promise.all(
          Array.from({ length: 16 }, async () => {
            while (next < to) {
              const i = next++;
              const h = await leader.put(`/many/r${i}/x`, 'v');
              if (h.revision > last) last = h.revision;
            }
          }),
        );
        return last;
      };
      await put(0, N / 2);
      await daemon.engine.upsert(
        specFor('many', cluster, { request: every(1, { prefixes: ['/many'], maxResourceNames: cap }) }),
      );
      await eventually(
        () => (requestDetails(daemon, 'many')?.ready === true ? true : undefined),
        'the initial count',
        20_000,
      );
      const last = await put(N / 2, N);
      await eventually(
        () => ((requestDetails(daemon, 'many')?.processedRevision ?? 0n) >= last ? true : undefined),
        'all writes processed',
        20_000,
      );
      const series = await scrape(address);
      const mine = (name: string): Map<string, number> =>
        new Map([...family(series, name)].filter(([k]) => k.includes('clusterName="many"')));
      const keys = mine('inspection_etcd_key_total');
      const requests = mine('inspection_etcd_request_total');
      assert.equal(keys.size, cap + 1, 'cap names plus "other"');
      assert.equal(requests.size, 2 * (cap + 1));
      assert.equal(
        [...keys.values()].reduce((a, b) => a + b, 0),
        N,
      );
      const other = keys.get('{clusterName="many",etcdPrefix="many",resourceName="other"}');
      assert.equal(other, N - cap);
      assert.equal(
        requests.get('{clusterName="many",grpcMethod="PUT",etcdPrefix="many",resourceName="other"}'),
        N / 2,
      );
      const d = requestDetails(daemon, 'many')!;
      assert.equal(d.resourceNames, cap);
      assert.ok(d.overflowed);
    });

    test('disabling the feature or removing the cluster stops the watch on etcd and drops the series', async (t) => {
      t.after(() => daemon.engine.remove('stop'));
      await eventually(
        async () => ((await etcdWatchers(cluster)) === 0 ? true : undefined),
        'no watcher left by earlier tests',
      );
      const spec = specFor('stop', cluster, { request: every(1) });
      await daemon.engine.upsert(spec);
      await eventually(
        () => (requestDetails(daemon, 'stop')?.state === 'watching' ? true : undefined),
        'the watch',
      );
      assert.equal(await etcdWatchers(cluster), 1);
      const hasSeries = async (): Promise<boolean> =>
        [...(await scrape(address)).keys()].some(
          (k) => k.includes('clusterName="stop"') && /^inspection_etcd_(request|key)_/.test(k),
        );
      await eventually(async () => ((await hasSeries()) ? true : undefined), 'series exported');

      await daemon.engine.upsert({ ...spec, features: {} });
      await eventually(
        async () => ((await etcdWatchers(cluster)) === 0 ? true : undefined),
        'the watch gone from etcd after disable',
      );
      assert.equal(await hasSeries(), false, 'series gone after disable');

      await daemon.engine.upsert(spec);
      await eventually(
        async () => ((await etcdWatchers(cluster)) === 1 ? true : undefined),
        'the watch back after enable',
      );
      await daemon.engine.remove('stop');
      await eventually(
        async () => ((await etcdWatchers(cluster)) === 0 ? true : undefined),
        'the watch gone from etcd after remove',
      );
      assert.equal(await hasSeries(), false, 'series gone after remove');
    });
  });
}

describe('request without a reachable member', () => {
  test('exports only "not ready", and a watch that stays down fails the rounds', async (t) => {
    const { daemon, address } = await startInspectionServer(t);
    const port = await freePort();
    await daemon.engine.upsert({
      id: 'down',
      name: 'down',
      endpoints: [parseEndpoint(`http://127.0.0.1:${port}`)],
      storageBackend: 'v3',
      discoverMembers: true,
      client: { dialTimeoutMs: 500, requestTimeoutMs: 500 },
      features: featureSpecs({ request: every(1) }),
    });
    const failed = await eventually(
      () => {
        const f = daemon.store.get('down')?.features['request'];
        return f?.last?.ok === false ? f : undefined;
      },
      'a failed round',
      15_000,
    );
    assert.match(failed.last?.error ?? '', new RegExp(`watch down: .*127\\.0\\.0\\.1:${port}`));
    const series = await scrape(address);
    assert.equal(series.get('inspection_etcd_request_ready{clusterName="down"}'), 0);
    assert.equal(series.get('inspection_etcd_request_watch_up{clusterName="down"}'), 0);
    assert.ok((series.get('inspection_failed_num{clusterName="down",inspectionType="request"}') ?? 0) >= 1);
    const counts = [...series.keys()].filter((k) =>
      /^inspection_etcd_(request_total|key_total|request_processed_revision|request_watch_lag)/.test(k),
    );
    assert.deepEqual(counts, [], 'no counts before the initial count');
  });
});

describe('request with two prefixes', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await startEtcdCluster({ version: '3.6', members: 1, name: 'reqtwo' });
  });
  after(() => cluster?.stop());

  // The session state once was one field every prefix wrote: with a prefix
  // still counting and the other already watching, it read "connecting" (or
  // flipped, whichever prefix moved last). It is derived from the prefixes now.
  test('one prefix still counting while the other watches: the state is counting, then watching', async (t) => {
    const writer = createV3MemberClient(parseEndpoint(cluster.endpoints[0]!), clientOptionsFor(cluster));
    t.after(() => writer.close());
    // A slow count (one key per page) on /big, a quick one on /small.
    const BIG = 3000;
    for (let i = 0; i < BIG; i += 100)
      await Promise.all(
        Array.from({ length: Math.min(100, BIG - i) }, (_, j) => writer.put(`/big/pods/ns/p${i + j}`, 'x')),
      );
    for (let i = 0; i < 5; i++) await writer.put(`/small/configmaps/ns/c${i}`, 'x');

    const spec = specFor('two', cluster, {});
    const connection = new ClusterConnection(spec, etcdClients, silentLogger());
    t.after(() => connection.close());
    await connection.discover(AbortSignal.timeout(10_000));
    const feature = featureRegistry.get('request');
    const session = feature.open(
      connection.handle,
      feature.parseOptions({ prefixes: ['/big', '/small'], countPageSize: 1 }),
    );
    t.after(() => session.close());
    const inspect = async (): Promise<RequestDetails> =>
      (await session.inspect(AbortSignal.timeout(10_000))).details as RequestDetails;

    // The first round waits a little for the first count; the rounds after it do not.
    const first = inspect();
    const samples: RequestDetails[] = [];
    const done = await eventually(
      async () => {
        const d = await inspect();
        samples.push(d);
        return d.ready && d.state === 'watching' ? d : undefined;
      },
      'both prefixes counted and watched',
      60_000,
      10,
    );
    await first;
    const [big, small] = done.prefixes;
    assert.equal(big?.keys, BIG);
    assert.equal(small?.keys, 5);
    const mixed = samples.filter((d) => d.countingKeys > 0 && d.prefixes[1]?.watching === true);
    assert.ok(mixed.length > 0, `a round saw /big counting while /small watched (${samples.length} rounds)`);
    for (const d of samples) {
      const prefixes = d.prefixes.map((p) => `${p.prefix} ${p.phase} watching=${p.watching}`).join(', ');
      // A count in progress (keys counted so far) means the state is counting, whatever the other prefix does.
      if (d.countingKeys > 0) assert.equal(d.state, 'counting', prefixes);
      if (d.prefixes.every((p) => p.watching)) assert.equal(d.state, 'watching', prefixes);
    }
  });
});
