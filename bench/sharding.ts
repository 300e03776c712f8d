/**
 * Benchmark of the sharded operator (prints figures; asserts nothing): N
 * EtcdClusters (default 10,000, over a few namespaces) pointing at a few real
 * etcd clusters of the test bed, healthy and alarm at their default 30 s,
 * and R replicas of `etcd-monitor operator --sharding` (default 5) as
 * processes with the etcd-monitor-operator ServiceAccount of
 * deploy/rbac.yaml. Measured:
 *   - time from the replicas' start until every EtcdCluster is Running with
 *     Healthy and AlarmsClear true and every EtcdInspection is Ok;
 *   - each replica's share (etcd_monitor_clusters), RSS and CPU;
 *   - API requests per minute in steady state (the apiserver's count for the
 *     operator's ServiceAccount, through a FlowSchema of its own), over a
 *     window that holds one status refresh period, and by verb and resource
 *     (the apiserver's audit log), for the fill too;
 *   - a replica killed (SIGKILL): time until the survivors hold every
 *     cluster again, how many moved, and how many no replica held on the way;
 *   - a replica added: time until it holds its share, how many moved, and
 *     how many no replica held on the way.
 * Run: node bench/sharding.ts [--clusters 10000] [--replicas 5] [--etcd 2]
 *      [--namespaces 10] [--window 360] [--lease 15] [--renew 10] [--retry 2]
 *      [--interval 60]
 * --interval sets healthy's and alarm's interval (seconds; default: theirs,
 * 30 s): 10,000 clusters at 30 s are ~2,300 etcd calls a second, more than a
 * shared 2-core machine has; at 60 s about half.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { EtcdCluster, EtcdInspection } from '../src/k8s/api/index.ts';
import { createInformer, type Informer } from '../src/k8s/client/index.ts';
import { freePort } from '../src/testbed/index.ts';
import { createBenchClusters, type OperatorBed, sampleRssPeaks, startOperatorBed } from './operator-bed.ts';
import {
  cpuSeconds,
  mib,
  operatorAudit,
  operatorRequests,
  requestTable,
  rssBytes,
  table,
} from './support.ts';

const { values: args } = parseArgs({
  options: {
    clusters: { type: 'string', default: '10000' },
    replicas: { type: 'string', default: '5' },
    etcd: { type: 'string', default: '2' },
    namespaces: { type: 'string', default: '10' },
    /** Long enough to hold one status refresh period (5 minutes) after the fill. */
    window: { type: 'string', default: '360' },
    settle: { type: 'string', default: '30' },
    lease: { type: 'string', default: '15' },
    renew: { type: 'string', default: '10' },
    retry: { type: 'string', default: '2' },
    /** healthy's and alarm's intervalSeconds ("60" or "60s"); empty: the features' defaults. */
    interval: { type: 'string', default: '' },
    /** Give up waiting for any phase after this long. */
    'max-wait': { type: 'string', default: '1800' },
  },
});
const CLUSTERS = Number(args.clusters);
const REPLICAS = Number(args.replicas);
const ETCDS = Number(args.etcd);
const NAMESPACES = Number(args.namespaces);
const WINDOW_S = Number(args.window);
const SETTLE_S = Number(args.settle);
const MAX_WAIT_MS = Number(args['max-wait']) * 1000;
const INTERVAL_S = args.interval === '' ? undefined : Number(args.interval.replace(/s$/, ''));
if (INTERVAL_S !== undefined && !(Number.isInteger(INTERVAL_S) && INTERVAL_S > 0))
  throw new Error(`--interval: a whole number of seconds, not "${args.interval}"`);
const FEATURE = INTERVAL_S === undefined ? {} : { intervalSeconds: INTERVAL_S };

interface Replica {
  readonly name: string;
  readonly child: ChildProcess;
  readonly address: string;
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const gap = (g: Omit<Settled, 'shares'>): string =>
  g.maxUnheld === 0
    ? 'none seen'
    : `${g.maxUnheld} / ${seconds(g.unheldMs)} between the first and last poll that saw them, at most ${seconds(g.unheldAtMostMs)} (the polls around them)`;

/** A replica's own view: the clusters it holds (its inspection engine), the members it counts. */
async function ownView(r: Replica): Promise<{ clusters: number; members: number } | undefined> {
  try {
    const res = await fetch(`http://${r.address}/metrics`, { signal: AbortSignal.timeout(30_000) });
    const text = await res.text();
    // Two unlabelled gauges of the process's own: no need to parse the inspection series.
    const gauge = (name: string): number =>
      Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    return { clusters: gauge('etcd_monitor_clusters'), members: gauge('etcd_monitor_shard_members') };
  } catch {
    return undefined;
  }
}

/** Shares once settled, and the clusters no live replica held (sum of the shares short of all) on the way. */
interface Settled {
  readonly shares: Map<Replica, number>;
  /** Most clusters held by no live replica at one poll where every replica answered. */
  readonly maxUnheld: number;
  /** From the first to the last such poll that found clusters unheld (0: none found, or one poll). */
  readonly unheldMs: number;
  /** From the poll before the first to the poll after the last: the gap's upper bound. */
  readonly unheldAtMostMs: number;
}

/** Polls until every live replica counts `live.length` members and their shares add up to every cluster. */
async function settledShares(live: readonly Replica[], what: string): Promise<Settled> {
  const t0 = performance.now();
  let last = '';
  let maxUnheld = 0;
  let firstUnheld: number | undefined;
  let lastUnheld = 0;
  let previousPoll = t0;
  let boundStart: number | undefined;
  let boundEnd: number | undefined;
  for (;;) {
    const views = await Promise.all(live.map((r) => ownView(r)));
    const total = views.reduce((n, v) => n + (v?.clusters ?? 0), 0);
    const line = views
      .map((v, i) => `${live[i]!.name} ${v?.clusters ?? '?'}/${v?.members ?? '?'}`)
      .join(', ');
    const now = performance.now();
    if (line !== last) console.log(`  ${seconds(now - t0)}: ${line}`);
    last = line;
    const answered = views.every((v) => v !== undefined);
    if (answered && total < CLUSTERS) {
      maxUnheld = Math.max(maxUnheld, CLUSTERS - total);
      firstUnheld ??= now;
      boundStart ??= previousPoll;
      lastUnheld = now;
      boundEnd = undefined;
    } else if (answered && firstUnheld !== undefined) boundEnd ??= now;
    previousPoll = now;
    if (total === CLUSTERS && views.every((v) => v?.members === live.length))
      return {
        shares: new Map(live.map((r, i) => [r, views[i]!.clusters])),
        maxUnheld,
        unheldMs: firstUnheld === undefined ? 0 : lastUnheld - firstUnheld,
        unheldAtMostMs: boundStart === undefined ? 0 : (boundEnd ?? now) - boundStart,
      };
    if (now - t0 > MAX_WAIT_MS) throw new Error(`${what}: not settled (${line})`);
    await sleep(500);
  }
}

interface Watching {
  readonly clusters: Informer<EtcdCluster>;
  readonly inspections: Informer<EtcdInspection>;
}

/**
 * Resolves when every EtcdCluster is Running and every EtcdInspection has a
 * verdict (past Pending) — filled, whether or not the loaded machine let
 * every round succeed; prints the progress every 10 s.
 */
async function watchFill(watching: Watching, t0: number): Promise<{ ms: number; line: string }> {
  let printed = 0;
  for (;;) {
    const clusters = watching.clusters.lister.list();
    const inspections = watching.inspections.lister.list();
    const filled = clusters.filter((c) => c.status?.phase === 'Running').length;
    const healthy = clusters.filter((c) =>
      (c.status?.conditions ?? []).some((x) => x.type === 'Healthy' && x.status === 'True'),
    ).length;
    const judged = inspections.filter((i) => i.status?.phase !== undefined && i.status.phase !== 'Pending');
    const ok = judged.filter((i) => i.status?.phase === 'Ok').length;
    const line = `${filled}/${CLUSTERS} clusters Running (${healthy} Healthy), ${judged.length}/${2 * CLUSTERS} inspections with a verdict (${ok} Ok)`;
    const now = performance.now();
    const done = filled === CLUSTERS && judged.length >= 2 * CLUSTERS;
    if (done || now - printed >= 10_000) {
      console.log(`  ${seconds(now - t0)}: ${line}`);
      printed = now;
    }
    if (done) return { ms: now - t0, line };
    if (now - t0 > MAX_WAIT_MS) throw new Error(`not filled: ${line}`);
    await sleep(1_000);
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-bench-sharding-'));
  const audit = await operatorAudit(dir);
  let bed: OperatorBed | undefined;
  let watching: Watching | undefined;
  try {
    console.log(`starting ${ETCDS} etcd clusters (1 member each) and kube-apiserver...`);
    bed = await startOperatorBed({
      dir,
      etcds: Array.from({ length: ETCDS }, (_, i) => ({
        version: '3.6',
        members: 1,
        name: `shardbench${i}`,
      })),
      namespaces: Array.from({ length: NAMESPACES }, (_, i) => `shard-${i}`),
      apiserverArgs: audit.apiserverArgs,
    });
    const { server, admin, spawnOperator } = bed;
    console.log(`creating ${CLUSTERS} EtcdClusters in ${NAMESPACES} namespaces...`);
    const tCreate = performance.now();
    await createBenchClusters(bed, CLUSTERS, FEATURE);
    console.log(`created in ${seconds(performance.now() - tCreate)}`);

    const startReplica = async (name: string): Promise<Replica> => {
      const port = await freePort();
      const child = spawnOperator(name, [
        '--sharding',
        '--lease-lock-name',
        'bench-shards',
        '--lease-lock-namespace',
        'etcd-monitor',
        '--leader-elect-lease-duration',
        `${args.lease}s`,
        '--leader-elect-renew-deadline',
        `${args.renew}s`,
        '--leader-elect-retry-period',
        `${args.retry}s`,
        '--listen',
        `127.0.0.1:${port}`,
      ]);
      return { name, child, address: `127.0.0.1:${port}` };
    };

    // The bench's own watch of every object: the fill is seen within a second, at the cost of one
    // list and two watches (a poll that listed 30,000 objects took minutes on the loaded apiserver).
    watching = {
      clusters: createInformer(admin.etcdClusters),
      inspections: createInformer(admin.etcdInspections),
    };
    watching.clusters.start();
    watching.inspections.start();
    const synced = AbortSignal.timeout(MAX_WAIT_MS);
    if (!(await watching.clusters.waitForSync(synced)) || !(await watching.inspections.waitForSync(synced)))
      throw new Error('the bench could not list the EtcdClusters and EtcdInspections');

    console.log(`starting ${REPLICAS} replicas with --sharding...`);
    const t1 = performance.now();
    const startedAt = new Date();
    const live = await Promise.all(Array.from({ length: REPLICAS }, (_, i) => startReplica(`r${i + 1}`)));
    const fill = await watchFill(watching, t1);
    const { shares } = await settledShares(live, 'shares after the fill');
    const rssFilled = await Promise.all(live.map((r) => rssBytes(r.child.pid!)));

    const fillRequests = await audit.requests(startedAt, new Date());

    console.log(`settling ${SETTLE_S} s, then counting API requests for ${WINDOW_S} s...`);
    await sleep(SETTLE_S * 1000);
    const before = await operatorRequests(server);
    const from = new Date();
    const cpuBefore = await Promise.all(live.map((r) => cpuSeconds(r.child.pid!)));
    const steadyPeak = sampleRssPeaks(
      live.map((r) => r.child.pid!),
      2_000,
    );
    await sleep(WINDOW_S * 1000);
    steadyPeak.stop();
    const cpuAfter = await Promise.all(live.map((r) => cpuSeconds(r.child.pid!)));
    const perMinute = ((await operatorRequests(server)) - before) / (WINDOW_S / 60);
    const steadyRequests = await audit.requests(from, new Date());

    console.log('killing one replica (SIGKILL)...');
    const victim = live[1]!;
    const victimShare = shares.get(victim)!;
    victim.child.kill('SIGKILL');
    await new Promise((r) => victim.child.once('exit', r));
    const tKill = performance.now();
    const survivors = live.filter((r) => r !== victim);
    const { shares: afterKill, ...killGap } = await settledShares(survivors, 'redistribution after the kill');
    const killMs = performance.now() - tKill;

    console.log('adding a replica...');
    const tAdd = performance.now();
    const added = await startReplica(`r${REPLICAS + 1}`);
    const withAdded = [...survivors, added];
    const { shares: afterAdd, ...addGap } = await settledShares(withAdded, 'redistribution after the add');
    const addMs = performance.now() - tAdd;
    const movedOnAdd = afterAdd.get(added)!;

    console.log('');
    console.log(
      table([
        ['figure', 'value'],
        [
          'EtcdClusters / replicas / etcd clusters',
          `${CLUSTERS} / ${REPLICAS} / ${ETCDS} (healthy + alarm every ${INTERVAL_S ?? 30} s; lease ${args.lease} s, renew ${args.renew} s, retry ${args.retry} s)`,
        ],
        ['time until every status is filled (from the replicas start)', seconds(fill.ms)],
        ['at that moment', fill.line],
        ['clusters per replica after the fill', live.map((r) => shares.get(r)).join(' / ')],
        ['RSS per replica when filled', rssFilled.map((b) => mib(b)).join(' / ')],
        ['RSS per replica, max in steady state', steadyPeak.peaks.map((b) => mib(b)).join(' / ')],
        [
          'CPU per replica in steady state (% of one core)',
          live.map((_, i) => (((cpuAfter[i]! - cpuBefore[i]!) / WINDOW_S) * 100).toFixed(0)).join(' / '),
        ],
        ['API requests per minute in steady state (all replicas)', perMinute.toFixed(1)],
        [
          'replica killed: clusters moved / time until the survivors hold all',
          `${victimShare} / ${seconds(killMs)}`,
        ],
        ['shares after the kill', survivors.map((r) => afterKill.get(r)).join(' / ')],
        ['after the kill: clusters held by no replica, at most / for', gap(killGap)],
        [
          'replica added: clusters moved to it / time until settled (process start included)',
          `${movedOnAdd} / ${seconds(addMs)}`,
        ],
        ['shares after the add', withAdded.map((r) => afterAdd.get(r)).join(' / ')],
        ['after the add: clusters held by no replica, at most / for', gap(addGap)],
      ]),
    );
    console.log('');
    console.log('API requests of the replicas while filling (from their start), by verb and resource:');
    console.log(requestTable(fillRequests));
    console.log('');
    console.log(`in steady state, per minute (window ${WINDOW_S} s):`);
    console.log(requestTable(steadyRequests, WINDOW_S / 60));
  } finally {
    await Promise.all([watching?.clusters.stop(), watching?.inspections.stop()]);
    await bed?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
