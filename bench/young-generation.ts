/**
 * The young generation's size against CPU and memory (prints figures;
 * asserts nothing): the same load on one process per V8 setting, side by
 * side, so that the machine's load hits them alike.
 *
 *   --mode daemon: `etcd-monitor run` with N clusters on one local 3-member
 *     etcd 3.6 cluster with TLS (healthy and alarm every 10 s), one daemon
 *     per variant;
 *   --mode operator: a kube-apiserver, N EtcdClusters on two 1-member etcd
 *     clusters (healthy and alarm every --interval s), one
 *     `etcd-monitor operator --sharding` replica per variant: each holds
 *     about N / variants clusters.
 *
 * Variants (--variants, comma-separated):
 *   launcher-1mib  the young generation stays at 1 MiB (the launcher's
 *                  default before the adaptive policy): a module preloaded
 *                  with --import sets --semi-space-growth-factor=1 at run
 *                  time (V8 raises a growth factor below 2 given at start
 *                  to 2); its file name has "semi-space" in it, which turns
 *                  the launcher's own policy off
 *   v8-default     node --semi-space-growth-factor=2: V8's own growth
 *   fixed-N        node --max-semi-space-size=N (MiB), V8's growth up to it
 *   adaptive       no flag: the launcher's default (src/young-generation.ts)
 *
 * After --warmup s, over --window s: RSS (sampled every 2 s), CPU (from
 * /proc), scavenge and full-collection time (the process's own
 * etcd_monitor_nodejs_gc_duration_seconds), rounds started
 * (etcd_monitor_round_queue_wait_seconds_count) and skipped, the new space
 * at the end, event-loop lag p99. The collections' times are wall times
 * (what prom-client reports): on a loaded machine they include preemption,
 * so their share "of CPU" reads high; CPU per round is the figure to compare.
 * --launcher (daemon mode): an installed package's bin/etcd-monitor.js, to
 * measure the bundle a user runs instead of the checkout's type-stripped
 * sources (which hold more memory).
 * Run: node bench/young-generation.ts --mode operator --clusters 4000
 *      [--variants launcher-1mib,v8-default,fixed-8,adaptive] [--warmup 90]
 *      [--window 180] [--interval 60] [--cpu-prof DIR]
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { freePort, startEtcdCluster, type TestCluster } from '../src/testbed/index.ts';
import { type OperatorBed, startOperatorBed, terminate } from './operator-bed.ts';
import { cpuSeconds, mib, rssBytes, summary, table } from './support.ts';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'operator' },
    clusters: { type: 'string', default: '4000' },
    variants: { type: 'string', default: 'launcher-1mib,v8-default,fixed-8,adaptive' },
    warmup: { type: 'string', default: '90' },
    window: { type: 'string', default: '180' },
    interval: { type: 'string', default: '60' },
    /** The daemon's launcher: default the checkout's bin/etcd-monitor.js; give an installed package's to measure the bundle. */
    launcher: { type: 'string', default: '' },
    /** Write each process's CPU profile (node --cpu-prof) into this directory when it stops. */
    'cpu-prof': { type: 'string', default: '' },
  },
});
const MODE = args.mode;
if (MODE !== 'daemon' && MODE !== 'operator') throw new Error(`--mode: daemon or operator, not "${MODE}"`);
const CLUSTERS = Number(args.clusters);
const VARIANTS = args.variants.split(',');
const WARMUP_S = Number(args.warmup);
const WINDOW_S = Number(args.window);
const INTERVAL_S = Number(args.interval);
const ROOT = resolve(import.meta.dirname, '..');
const LAUNCHER = args.launcher === '' ? join(ROOT, 'bin', 'etcd-monitor.js') : resolve(args.launcher);

let preload = '';

function nodeArgs(variant: string): string[] {
  const profile = args['cpu-prof'] === '' ? [] : ['--cpu-prof', `--cpu-prof-dir=${args['cpu-prof']}`];
  if (variant === 'launcher-1mib') return [...profile, `--import=${preload}`];
  if (variant === 'v8-default') return [...profile, '--semi-space-growth-factor=2'];
  if (variant === 'adaptive') return profile;
  const fixed = /^fixed-(\d+)$/.exec(variant);
  if (fixed !== null) return [...profile, `--max-semi-space-size=${fixed[1]}`];
  throw new Error(`unknown variant "${variant}"`);
}

interface Proc {
  readonly variant: string;
  readonly child: ChildProcess;
  readonly address: string;
}

interface Reading {
  readonly cpu: number;
  readonly minor: number;
  readonly major: number;
  readonly rounds: number;
  readonly skipped: number;
  readonly clusters: number;
  readonly newSpace: number;
  readonly lagP99: number;
}

/** The process's own figures, from its /metrics. */
async function read(p: Proc): Promise<Reading> {
  const text = await (
    await fetch(`http://${p.address}/metrics`, { signal: AbortSignal.timeout(60_000) })
  ).text();
  const sum = (re: RegExp): number => [...text.matchAll(re)].reduce((n, m) => n + Number(m[1]), 0);
  return {
    cpu: await cpuSeconds(p.child.pid!),
    minor: sum(/^etcd_monitor_nodejs_gc_duration_seconds_sum\{kind="minor"\} (\S+)$/gm),
    major: sum(/^etcd_monitor_nodejs_gc_duration_seconds_sum\{kind="(?:major|incremental)"\} (\S+)$/gm),
    rounds: sum(/^etcd_monitor_round_queue_wait_seconds_count (\S+)$/gm),
    skipped: sum(/^etcd_monitor_rounds_skipped_total\{[^}]*\} (\S+)$/gm),
    clusters: sum(/^etcd_monitor_clusters (\S+)$/gm),
    newSpace: sum(/^etcd_monitor_nodejs_heap_space_size_total_bytes\{space="new"\} (\S+)$/gm),
    lagP99: sum(/^etcd_monitor_nodejs_eventloop_lag_p99_seconds (\S+)$/gm),
  };
}

async function ready(p: Proc): Promise<void> {
  for (const t0 = performance.now(); performance.now() - t0 < 300_000; await sleep(1_000)) {
    try {
      if ((await read(p)).clusters > 0) return;
    } catch {
      // not listening yet
    }
  }
  throw new Error(`${p.variant}: no clusters after 300 s`);
}

async function daemons(dir: string): Promise<{ procs: Proc[]; stop(): Promise<void> }> {
  const cluster: TestCluster = await startEtcdCluster({
    version: '3.6',
    members: 3,
    tls: true,
    name: 'ygbench',
  });
  const lines = [
    'defaults: {features: {healthy: {intervalSeconds: 10}, alarm: {intervalSeconds: 10}}}',
    'clusters:',
  ];
  for (let i = 0; i < CLUSTERS; i++)
    lines.push(
      `  - name: c${i}`,
      `    endpoints: [${cluster.endpoints.join(', ')}]`,
      `    tls: {caFile: ${cluster.tls!.caFile}, certFile: ${cluster.tls!.certFile}, keyFile: ${cluster.tls!.keyFile}}`,
    );
  const file = join(dir, 'monitor.yaml');
  await writeFile(file, `${lines.join('\n')}\n`);
  const procs: Proc[] = [];
  for (const variant of VARIANTS) {
    const port = await freePort();
    const child = spawn(
      process.execPath,
      [
        ...nodeArgs(variant),
        LAUNCHER,
        'run',
        '--config',
        file,
        '--listen',
        `127.0.0.1:${port}`,
        '--log-level',
        'warn',
      ],
      { stdio: ['ignore', 'ignore', 'inherit'] },
    );
    procs.push({ variant, child, address: `127.0.0.1:${port}` });
  }
  return {
    procs,
    stop: async () => {
      await Promise.all(procs.map((p) => terminate(p.child)));
      await cluster.stop();
    },
  };
}

async function operators(dir: string): Promise<{ procs: Proc[]; stop(): Promise<void> }> {
  const bed: OperatorBed = await startOperatorBed({
    dir,
    etcds: [0, 1].map((i) => ({ version: '3.6', members: 1, name: `ygbench${i}` })),
    namespaces: Array.from({ length: 10 }, (_, i) => `yg-${i}`),
  });
  try {
    const feature = { intervalSeconds: INTERVAL_S };
    for (let i = 0; i < CLUSTERS; i += 50)
      await Promise.all(
        Array.from({ length: Math.min(50, CLUSTERS - i) }, (_, j) =>
          bed.admin.etcdClusters.create({
            metadata: {
              name: `cluster-${String(i + j).padStart(5, '0')}`,
              namespace: bed.namespaces[(i + j) % 10]!,
            },
            spec: {
              endpoints: [bed.etcds[(i + j) % 2]!.endpoints[0]!],
              features: { healthy: feature, alarm: feature },
            },
          }),
        ),
      );
    const procs: Proc[] = [];
    for (const variant of VARIANTS) {
      const port = await freePort();
      const child = bed.spawnOperator(
        variant,
        [
          '--sharding',
          '--lease-lock-name',
          'yg-shards',
          '--lease-lock-namespace',
          'etcd-monitor',
          '--leader-elect-lease-duration',
          '30s',
          '--leader-elect-renew-deadline',
          '20s',
          '--leader-elect-retry-period',
          '5s',
          '--listen',
          `127.0.0.1:${port}`,
        ],
        { nodeArgs: nodeArgs(variant) },
      );
      procs.push({ variant, child, address: `127.0.0.1:${port}` });
    }
    return { procs, stop: () => bed.stop() };
  } catch (err) {
    await bed.stop();
    throw err;
  }
}

async function main(): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-bench-yg-'));
  preload = join(dir, 'semi-space-1mib.mjs');
  await writeFile(
    preload,
    "import * as v8 from 'node:v8';\nv8.setFlagsFromString('--semi-space-growth-factor=1');\n",
  );
  let stop: (() => Promise<void>) | undefined;
  try {
    console.log(
      `young generation: ${MODE}, ${CLUSTERS} clusters, variants ${VARIANTS.join(', ')}; ${LAUNCHER}; node ${process.versions.node}, ${new Date().toISOString()}`,
    );
    const started = MODE === 'daemon' ? await daemons(dir) : await operators(dir);
    stop = started.stop;
    const { procs } = started;
    await Promise.all(procs.map((p) => ready(p)));
    console.log(`all ${procs.length} processes hold clusters; warming up ${WARMUP_S} s...`);
    await sleep(WARMUP_S * 1000);
    const before = await Promise.all(procs.map((p) => read(p)));
    const load0 = loadavg()[0]!;
    const rss: number[][] = procs.map(() => []);
    const sampler = setInterval(() => {
      procs.forEach(
        (p, i) =>
          void rssBytes(p.child.pid!).then(
            (b) => rss[i]!.push(b),
            () => undefined,
          ),
      );
    }, 2_000);
    console.log(`measuring ${WINDOW_S} s...`);
    await sleep(WINDOW_S * 1000);
    clearInterval(sampler);
    const after = await Promise.all(procs.map((p) => read(p)));
    const load1 = loadavg()[0]!;
    const pct = (part: number, whole: number): string => `${((100 * part) / whole).toFixed(1)} %`;
    console.log(`\nload average ${load0.toFixed(1)} -> ${load1.toFixed(1)}\n`);
    console.log(
      table([
        [
          'variant',
          'clusters',
          'RSS p50',
          'RSS max',
          'CPU (of a core)',
          'scavenges (of CPU)',
          'full GC (of CPU)',
          'rounds/s',
          'CPU per round',
          'skipped',
          'new space',
          'lag p99',
        ],
        ...procs.map((p, i) => {
          const b = before[i]!;
          const a = after[i]!;
          const cpu = a.cpu - b.cpu;
          const s = summary(rss[i]!);
          return [
            p.variant,
            a.clusters,
            mib(s.p50),
            mib(s.max),
            pct(cpu, WINDOW_S),
            `${(a.minor - b.minor).toFixed(1)} s (${pct(a.minor - b.minor, cpu)})`,
            `${(a.major - b.major).toFixed(1)} s (${pct(a.major - b.major, cpu)})`,
            ((a.rounds - b.rounds) / WINDOW_S).toFixed(1),
            `${((1000 * cpu) / Math.max(1, a.rounds - b.rounds)).toFixed(2)} ms`,
            a.skipped - b.skipped,
            mib(a.newSpace),
            `${(a.lagP99 * 1000).toFixed(0)} ms`,
          ];
        }),
      ]),
    );
  } finally {
    await stop?.();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
