/**
 * `/metrics` render cost at scale (issue 12 point 3), without the noise of
 * a thousand clusters' rounds on a shared machine: one real 3-member etcd
 * 3.6 cluster is inspected by the engine until every default feature has a
 * result (healthy and alarm configured, plus the features on by default),
 * then that snapshot is copied under N cluster names into a store, and the
 * server's /metrics view (src/server/views.ts) is rendered:
 *   - every part of every cluster changed since the last scrape (new
 *     objects for its membership and every feature): the worst case;
 *   - a round of healthy and alarm in every cluster (10 s interval, 15 s
 *     scrapes), the slower features and membership as they were;
 *   - nothing changed (the shared rendering is reused).
 * Also the memory the store and the rendering hold. Prints figures; asserts
 * nothing. Record them in docs/performance.md.
 *   node --expose-gc bench/metrics-render.ts [--clusters 1000] [--renders 30]
 */
import { loadavg } from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { parseConfig } from '../src/config/loader.ts';
import { etcdClients } from '../src/engine/clients.ts';
import { Engine } from '../src/engine/engine.ts';
import { SharedClients } from '../src/engine/shared-clients.ts';
import { SnapshotStore, type ClusterSnapshot } from '../src/engine/snapshot.ts';
import { featureRegistry } from '../src/features/index.ts';
import { silentLogger } from '../src/log.ts';
import { InspectionCollector } from '../src/metrics/collector.ts';
import { metricsView } from '../src/server/views.ts';
import { startEtcdCluster } from '../src/testbed/cluster.ts';
import { mib, quantile } from './support.ts';

const { values } = parseArgs({
  options: {
    clusters: { type: 'string', default: '1000' },
    renders: { type: 'string', default: '30' },
    // `default`: the features a cluster gets when it names none; or a list (`healthy,alarm`: the issue's case).
    features: { type: 'string', default: 'default' },
  },
});
const CLUSTERS = Number(values.clusters);
const RENDERS = Number(values.renders);
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});

async function realSnapshot(): Promise<ClusterSnapshot> {
  const cluster = await startEtcdCluster({ version: '3.6', members: 3, name: 'render' });
  const store = new SnapshotStore();
  const engine = new Engine({ store, clients: new SharedClients(etcdClients), logger: silentLogger() });
  try {
    const config = await parseConfig(
      [
        // A list in `defaults` replaces the default features (a cluster's own list would add to them).
        ...(values.features === 'default'
          ? []
          : [
              `defaults: {features: {${values.features
                .split(',')
                .map((f) => `${f}: {}`)
                .join(', ')}}}`,
            ]),
        'clusters:',
        '  - name: c',
        `    endpoints: [${cluster.endpoints.join(', ')}]`,
        '    features: {healthy: {intervalSeconds: 10}, alarm: {intervalSeconds: 10}}',
      ].join('\n'),
      'bench.yaml',
      featureRegistry,
    );
    await engine.apply(config.clusters);
    const deadline = Date.now() + 60_000;
    for (;;) {
      const s = store.list()[0];
      if (s !== undefined && s.members !== undefined && Object.values(s.features).every((f) => f.last))
        return s;
      if (Date.now() > deadline) throw new Error('no complete snapshot after 60 s');
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await engine.stop();
    await cluster.stop();
  }
}

/** A copy of `s` under another name, every part a new object (a changed snapshot to the render caches). */
function copyOf(s: ClusterSnapshot, i: number): ClusterSnapshot {
  const features = Object.fromEntries(Object.entries(s.features).map(([k, f]) => [k, { ...f }]));
  return { ...s, id: `ns/c${i}`, name: `c${i}`, features, ...(s.members && { members: { ...s.members } }) };
}

/** `c` after one round of each of `names` (new objects for those features only, as the engine does). */
function afterRounds(c: ClusterSnapshot, names: readonly string[]): ClusterSnapshot {
  const features = { ...c.features };
  for (const n of names) if (features[n] !== undefined) features[n] = { ...features[n] };
  return { ...c, features };
}

/** Wall time, CPU time of the process and garbage-collection pauses during one render (`await view.get()`). */
interface Cost {
  readonly wall: number;
  readonly cpu: number;
  readonly gc: number;
}

let gcPauses = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) gcPauses += entry.duration;
}).observe({ entryTypes: ['gc'] });

async function timed(render: () => Promise<unknown>): Promise<Cost> {
  const gc0 = gcPauses;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await render();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  // GC entries are delivered asynchronously: let the observer run.
  await new Promise((r) => setImmediate(r));
  return { wall, cpu: (cpu.user + cpu.system) / 1000, gc: gcPauses - gc0 };
}

function summary(costs: readonly Cost[]): string {
  const q = (pick: (c: Cost) => number, p: number): string =>
    quantile(
      costs.map(pick).sort((a, b) => a - b),
      p,
    ).toFixed(1);
  return [
    `wall p50 ${q((c) => c.wall, 0.5)} / p99 ${q((c) => c.wall, 0.99)} / max ${q((c) => c.wall, 1)} ms`,
    `CPU p50 ${q((c) => c.cpu, 0.5)} / p99 ${q((c) => c.cpu, 0.99)} ms`,
    `GC pauses p50 ${q((c) => c.gc, 0.5)} / p99 ${q((c) => c.gc, 0.99)} ms`,
  ].join(', ');
}

// The daemon's V8 settings (bin/etcd-monitor.js applies them at run time too): a 1 MiB young generation, the old one grown to 1.5x the live heap.
setFlagsFromString('--semi-space-growth-factor=1');
setFlagsFromString('--heap-growing-percent=50');
const snapshot = await realSnapshot();
gc();
const heap0 = process.memoryUsage().heapUsed;
const store = new SnapshotStore();
for (let i = 0; i < CLUSTERS; i++) store.set(copyOf(snapshot, i));
const collector = new InspectionCollector({
  store,
  featureMetrics: featureRegistry.names().flatMap((n) => featureRegistry.get(n).metrics),
});
const view = metricsView(store, collector);
const signal = new AbortController().signal;
const body = await view.get(signal);
gc();
const heap1 = process.memoryUsage().heapUsed;
const load0 = loadavg();

// Each case in a block of its own, as a daemon sees it: after the first rounds, every scrape follows rounds of healthy and alarm.
const changed: Cost[] = [];
for (let r = 0; r < RENDERS; r++) {
  for (let i = 0; i < CLUSTERS; i++) store.set(copyOf(snapshot, i));
  changed.push(await timed(() => view.get(signal)));
}
const rounds: Cost[] = [];
for (let r = 0; r < RENDERS; r++) {
  for (const c of store.list()) store.set(afterRounds(c, ['healthy', 'alarm']));
  rounds.push(await timed(() => view.get(signal)));
}
const unchanged: Cost[] = [];
for (let r = 0; r < RENDERS; r++) unchanged.push(await timed(() => view.get(signal)));
const features = Object.keys(snapshot.features).join(', ');
console.log(
  `/metrics render, ${CLUSTERS} clusters (features: ${features}), node ${process.versions.node}, ${new Date().toISOString()}, load average ${load0.map((l) => l.toFixed(1)).join(' ')} -> ${loadavg()
    .map((l) => l.toFixed(1))
    .join(' ')}`,
);
console.log(
  `exposition: ${mib(body.length)} (${(body.length / CLUSTERS / 1024).toFixed(1)} KiB per cluster) in ${body.chunks.length} chunks`,
);
console.log(`every part of every cluster changed: ${summary(changed)}`);
console.log(
  `a healthy and an alarm round in every cluster (the other parts as they were): ${summary(rounds)}`,
);
console.log(`nothing changed: ${summary(unchanged)}`);
console.log(`heap held by the store, the cached pieces and the rendering: ${mib(heap1 - heap0)}`);
view.close();
