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
import { parseArgs } from 'node:util';
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
  options: { clusters: { type: 'string', default: '1000' }, renders: { type: 'string', default: '30' } },
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

function summary(times: number[]): string {
  const sorted = [...times].sort((a, b) => a - b);
  return `p50 ${quantile(sorted, 0.5).toFixed(1)} ms, p99 ${quantile(sorted, 0.99).toFixed(1)} ms, max ${sorted.at(-1)!.toFixed(1)} ms`;
}

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

const changed: number[] = [];
const rounds: number[] = [];
const unchanged: number[] = [];
for (let r = 0; r < RENDERS; r++) {
  for (let i = 0; i < CLUSTERS; i++) store.set(copyOf(snapshot, i));
  let t0 = performance.now();
  await view.get(signal);
  changed.push(performance.now() - t0);
  for (const c of store.list()) store.set(afterRounds(c, ['healthy', 'alarm']));
  t0 = performance.now();
  await view.get(signal);
  rounds.push(performance.now() - t0);
  t0 = performance.now();
  await view.get(signal);
  unchanged.push(performance.now() - t0);
}
const features = Object.keys(snapshot.features).join(', ');
console.log(
  `/metrics render, ${CLUSTERS} clusters (features: ${features}), node ${process.versions.node}, ${new Date().toISOString()}`,
);
console.log(
  `exposition: ${mib(body.length)} (${(body.length / CLUSTERS / 1024).toFixed(1)} KiB per cluster)`,
);
console.log(`every part of every cluster changed: ${summary(changed)}`);
console.log(
  `a healthy and an alarm round in every cluster (the other parts as they were): ${summary(rounds)}`,
);
console.log(`nothing changed:       ${summary(unchanged)}`);
console.log(`heap held by the store, the cached pieces and the rendering: ${mib(heap1 - heap0)}`);
view.close();
