/**
 * Where a sharded operator replica's memory goes (prints figures; asserts
 * nothing): N EtcdClusters (healthy and alarm every --interval s) on a few
 * real etcd clusters of the test bed, R replicas of `etcd-monitor operator
 * --sharding`; once 99% of the statuses are filled and a settle time has passed
 * (at least one round), it reads each replica's RSS and heap (its own
 * /metrics), samples the heap in use for --window seconds (its swing is the
 * per-round garbage), then takes a heap snapshot of the first replica
 * (node's --heapsnapshot-signal) and splits it by what retains it
 * (bench/heap-split.ts): informer caches per kind, engines, controllers.
 * Run: node bench/shard-memory.ts [--clusters 4000] [--replicas 2]
 *      [--interval 60] [--settle 75] [--window 60] [--keep-snapshot DIR]
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rename, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort } from '../src/testbed/index.ts';
import { formatSplit, loadHeap, splitHeap } from './heap-split.ts';
import { createBenchClusters, sampleRssPeaks, startOperatorBed, type OperatorBed } from './operator-bed.ts';
import { mib, rssBytes, table } from './support.ts';

const { values: args } = parseArgs({
  options: {
    clusters: { type: 'string', default: '4000' },
    replicas: { type: 'string', default: '2' },
    etcd: { type: 'string', default: '2' },
    namespaces: { type: 'string', default: '10' },
    interval: { type: 'string', default: '60' },
    settle: { type: 'string', default: '75' },
    window: { type: 'string', default: '60' },
    'keep-snapshot': { type: 'string' },
    'max-wait': { type: 'string', default: '1800' },
  },
});
const CLUSTERS = Number(args.clusters);
const REPLICAS = Number(args.replicas);
const INTERVAL_S = Number(args.interval);
const MAX_WAIT_MS = Number(args['max-wait']) * 1000;

interface Replica {
  readonly name: string;
  readonly child: ChildProcess;
  readonly address: string;
}

async function metrics(r: Replica): Promise<Map<string, number> | undefined> {
  try {
    const res = await fetch(`http://${r.address}/metrics`, { signal: AbortSignal.timeout(60_000) });
    const out = new Map<string, number>();
    for (const line of (await res.text()).split('\n')) {
      // The process's own unlabelled series (and heap spaces): no need for the inspection series.
      if (!line.startsWith('etcd_monitor_')) continue;
      const space = /^(\S+)\{space="([^"]+)"\} (\S+)$/.exec(line);
      if (space !== null) out.set(`${space[1]}:${space[2]}`, Number(space[3]));
      const plain = /^(\S+) (\S+)$/.exec(line);
      if (plain !== null) out.set(plain[1]!, Number(plain[2]));
    }
    return out;
  } catch {
    return undefined;
  }
}

async function waitFor(what: string, check: () => Promise<string | true>): Promise<void> {
  const t0 = performance.now();
  let last = '';
  for (;;) {
    const state = await check();
    if (state === true) return;
    if (state !== last) console.log(`  ${((performance.now() - t0) / 1000).toFixed(1)} s: ${state}`);
    last = state;
    if (performance.now() - t0 > MAX_WAIT_MS) throw new Error(`${what}: not reached (${state})`);
    await sleep(Math.max(2_000, CLUSTERS));
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-bench-shard-memory-'));
  let bed: OperatorBed | undefined;
  try {
    console.log('starting etcd clusters and kube-apiserver...');
    bed = await startOperatorBed({
      dir,
      etcds: Array.from({ length: Number(args.etcd) }, (_, i) => ({
        version: '3.6',
        members: 1,
        name: `shardmem${i}`,
      })),
      namespaces: Array.from({ length: Number(args.namespaces) }, (_, i) => `shard-${i}`),
    });
    const b = bed;
    console.log(`creating ${CLUSTERS} EtcdClusters...`);
    await createBenchClusters(b, CLUSTERS, { intervalSeconds: INTERVAL_S });

    const replicas: Replica[] = [];
    for (let i = 0; i < REPLICAS; i++) {
      const port = await freePort();
      const name = `r${i + 1}`;
      const child = b.spawnOperator(
        name,
        [
          '--sharding',
          '--lease-lock-name',
          'memory-shards',
          '--lease-lock-namespace',
          'etcd-monitor',
          // Room for a machine shared with other work: a replica that misses its renew deadline drops its share.
          '--leader-elect-lease-duration',
          '60s',
          '--leader-elect-renew-deadline',
          '30s',
          '--leader-elect-retry-period',
          '5s',
          '--listen',
          `127.0.0.1:${port}`,
        ],
        { nodeArgs: ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`] },
      );
      replicas.push({ name, child, address: `127.0.0.1:${port}` });
    }

    const startPeak = sampleRssPeaks(
      replicas.map((r) => r.child.pid!),
      1_000,
    );
    console.log(`waiting until every status is filled and the ${REPLICAS} replicas share the clusters...`);
    await waitFor('fill', async () => {
      const list = async (plural: string): Promise<{ status?: { phase?: string } }[]> => {
        try {
          const res = await b.server.request('GET', `/apis/etcdmonitor.dev/v1alpha1/${plural}`);
          return res.status === 200 ? ((res.body as { items?: [] }).items ?? []) : [];
        } catch {
          return [];
        }
      };
      const [clusters, inspections] = await Promise.all([list('etcdclusters'), list('etcdinspections')]);
      const running = clusters.filter((c) => c.status?.phase === 'Running').length;
      const judged = inspections.filter((i) => (i.status?.phase ?? 'Pending') !== 'Pending').length;
      const views = await Promise.all(replicas.map((r) => metrics(r)));
      const shares = views.map((v) => v?.get('etcd_monitor_clusters') ?? Number.NaN);
      const members = views.map((v) => v?.get('etcd_monitor_shard_members'));
      const sum = shares.reduce((a, c) => a + c, 0);
      const line = `${running}/${CLUSTERS} Running, ${judged}/${2 * CLUSTERS} inspections judged, shares ${shares.join(' / ')}`;
      // 99% is enough for memory figures: on a loaded machine the last statuses can take minutes.
      return running >= 0.99 * CLUSTERS &&
        judged >= 0.99 * 2 * CLUSTERS &&
        sum === CLUSTERS &&
        members.every((m) => m === REPLICAS)
        ? true
        : line;
    });

    startPeak.stop();
    console.log(`settling ${args.settle} s, then sampling the heap for ${args.window} s...`);
    await sleep(Number(args.settle) * 1000);
    const heapUsed = replicas.map(() => [] as number[]);
    const rss = replicas.map(() => [] as number[]);
    const tEnd = performance.now() + Number(args.window) * 1000;
    let last: (Map<string, number> | undefined)[] = [];
    while (performance.now() < tEnd) {
      last = await Promise.all(replicas.map((r) => metrics(r)));
      last.forEach((m, i) => {
        const h = m?.get('etcd_monitor_nodejs_heap_size_used_bytes');
        if (h !== undefined) heapUsed[i]!.push(h);
      });
      const now = await Promise.all(replicas.map((r) => rssBytes(r.child.pid!)));
      now.forEach((v, i) => rss[i]!.push(v));
      await sleep(1_000);
    }
    const min = (xs: number[]): number => Math.min(...xs);
    const max = (xs: number[]): number => Math.max(...xs);

    console.log(`heap snapshot of ${replicas[0]!.name}...`);
    const target = replicas[0]!;
    target.child.kill('SIGUSR2');
    let file: string | undefined;
    // The snapshot is written on the main thread: once /metrics answers again, the file is complete.
    await waitFor('snapshot', async () => {
      const names = (await readdir(dir)).filter((n) => n.endsWith('.heapsnapshot'));
      if (names.length === 0) return 'not started';
      if ((await metrics(target)) === undefined) return 'writing';
      file = join(dir, names[0]!);
      return true;
    });
    const size = (await stat(file!)).size;
    const split = splitHeap(loadHeap(file!));
    const clusterShare = last[0]?.get('etcd_monitor_clusters') ?? Number.NaN;

    console.log('');
    console.log(
      table([
        ['figure', ...replicas.map((r) => r.name)],
        ['clusters held', ...last.map((m) => String(m?.get('etcd_monitor_clusters') ?? '?'))],
        ['RSS max from the start until filled', ...startPeak.peaks.map((b) => mib(b))],
        ['RSS min / max over the window', ...rss.map((x) => `${mib(min(x))} / ${mib(max(x))}`)],
        [
          'heap used min / max (the swing: garbage between GCs)',
          ...heapUsed.map((x) => `${mib(min(x))} / ${mib(max(x))}`),
        ],
        [
          'heap total / external + array buffers (last sample)',
          ...last.map(
            (m) =>
              `${mib(m?.get('etcd_monitor_nodejs_heap_size_total_bytes') ?? Number.NaN)} / ${mib(m?.get('etcd_monitor_nodejs_external_memory_bytes') ?? Number.NaN)}`,
          ),
        ],
      ]),
    );
    console.log('');
    console.log(
      `${target.name}: ${clusterShare} of ${CLUSTERS} clusters, snapshot ${mib(size)} on disk (${file})`,
    );
    console.log(formatSplit(split));
    for (const [name, bytes] of split.informers) {
      const objects = name.startsWith('etcdclusters')
        ? CLUSTERS
        : name.startsWith('etcdinspections')
          ? 2 * CLUSTERS
          : undefined;
      if (objects !== undefined)
        console.log(
          `  ${name}: ${(bytes / objects).toFixed(0)} bytes per cached object (${objects} objects)`,
        );
    }
    if (args['keep-snapshot'] !== undefined) {
      const kept = join(args['keep-snapshot'], `${target.name}.heapsnapshot`);
      await rename(file!, kept);
      console.log(`snapshot kept: ${kept}`);
    }
  } finally {
    await bed?.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
