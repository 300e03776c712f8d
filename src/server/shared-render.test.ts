import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SnapshotStore, type ClusterSnapshot } from '../engine/snapshot.ts';
import { clusterToJson } from '../engine/json.ts';
import type { Exposition, PartText } from '../metrics/assembly.ts';
import { InspectionCollector } from '../metrics/collector.ts';
import { RenderAbandoned, type SharedRender } from './shared-render.ts';
import { statusPage } from './status-page.ts';
import { clustersJsonView, metricsView, statusPageView } from './views.ts';

function cluster(name: string, runs = 1): ClusterSnapshot {
  return {
    id: name,
    name,
    endpoints: ['http://127.0.0.1:2379'],
    storageBackend: 'v3',
    configErrors: [],
    labels: {},
    features: {
      healthy: { name: 'healthy', intervalSeconds: 10, runs, failures: 0, consecutiveFailures: 0 },
    },
  };
}

function setup(clusters: number): {
  store: SnapshotStore;
  cache: SharedRender<PartText[], Exposition>;
  collector: InspectionCollector;
} {
  const store = new SnapshotStore();
  for (let i = 0; i < clusters; i++) store.set(cluster(`c${i}`));
  const collector = new InspectionCollector({ store, featureMetrics: [] });
  return { store, cache: metricsView(store, collector), collector };
}

const never = (): AbortSignal => new AbortController().signal;

/** The text a scrape writes: the chunks one after the other. */
function text(body: Exposition): string {
  const whole = Buffer.concat(body.chunks);
  assert.equal(whole.length, body.length);
  return whole.toString();
}

test('concurrent scrapes share one render; the text is what the collector renders', async () => {
  const { cache, collector } = setup(300);
  const bodies = await Promise.all(Array.from({ length: 100 }, () => cache.get(never())));
  assert.equal(cache.renders, 1);
  for (const body of bodies) assert.equal(body, bodies[0]);
  assert.equal(text(bodies[0]!), collector.render());
  // Nothing changed: the next scrape renders nothing.
  await cache.get(never());
  assert.equal(cache.renders, 1);
});

test('a scrape sees every change made before it arrived, removals included', async () => {
  const { store, cache, collector } = setup(50);
  const first = cache.get(never());
  store.update('c1', (s) => ({ ...s, features: { healthy: { ...s.features.healthy!, runs: 7 } } }));
  store.delete('c2');
  const second = cache.get(never());
  await first;
  const body = text(await second);
  assert.match(body, /inspection_feature_runs_total\{clusterName="c1",inspectionType="healthy"\} 7\n/);
  assert.doesNotMatch(body, /clusterName="c2"/);
  assert.equal(body, collector.render());
});

test('a scrape whose client went away stops waiting; a render nobody waits for stops', async () => {
  const { cache } = setup(3000);
  const gone = new AbortController();
  const pending = cache.get(gone.signal);
  gone.abort();
  await assert.rejects(pending, RenderAbandoned);
  // A later scrape still gets a complete answer.
  assert.match(text(await cache.get(never())), /clusterName="c2999"/);
});

test('the JSON API and the status page: shared renders equal to rendering every cluster now', async () => {
  const { store } = setup(200);
  const json = clustersJsonView(store);
  const page = statusPageView(store);
  const [a, b] = await Promise.all([json.get(never()), json.get(never())]);
  assert.equal(a, b);
  assert.equal(json.renders, 1);
  assert.deepEqual(JSON.parse(a!.toString()), { clusters: store.list().map(clusterToJson) });
  store.update('c7', (s) => ({ ...s, configErrors: ['<b>broken</b>'] }));
  store.delete('c8');
  const html = (await page.get(never())).toString();
  assert.equal(html, statusPage(store.list()));
  assert.match(html, /&#60;b&#62;broken/);
  assert.doesNotMatch(html, /<h2>c8</);
  const after = JSON.parse((await json.get(never())).toString()) as { clusters: { id: string }[] };
  assert.equal(after.clusters.length, 199);
  assert.equal(json.renders, 2);
  // One cluster's JSON is the list's piece.
  assert.deepEqual(JSON.parse(json.pieceOf(store.get('c7')!)), clusterToJson(store.get('c7')!));
});
