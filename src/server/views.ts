/** The three views of the snapshot store the server renders, each shared by concurrent requests. */
import { clusterToJson } from '../engine/json.ts';
import type { SnapshotStore } from '../engine/snapshot.ts';
import { type Exposition, ExpositionAssembly, type PartText } from '../metrics/assembly.ts';
import type { InspectionCollector } from '../metrics/collector.ts';
import { SharedRender } from './shared-render.ts';
import { byId, clusterSection, statusPageOf } from './status-page.ts';

/** The inspection part of /metrics: every cluster's series, grouped by family under one HELP/TYPE header. */
export function metricsView(
  store: SnapshotStore,
  collector: InspectionCollector,
): SharedRender<PartText[], Exposition> {
  // Keeps each family's bytes per slot between renders: see ExpositionAssembly.
  const assembly = new ExpositionAssembly(collector.families);
  return new SharedRender(store, {
    piece: (cluster) => collector.clusterParts(cluster),
    assemble: (pieces) => assembly.steps(pieces),
  });
}

/** /api/v1/clusters: one JSON text per cluster, joined; pieceOf() serves /api/v1/clusters/:id. */
export function clustersJsonView(store: SnapshotStore): SharedRender<string> {
  return new SharedRender(store, {
    piece: (cluster) => JSON.stringify(clusterToJson(cluster)),
    assemble: (pieces) => Buffer.from(`{"clusters":[${pieces.join(',')}]}`),
  });
}

/** The status page (/). */
export function statusPageView(store: SnapshotStore): SharedRender<string> {
  return new SharedRender(store, {
    piece: clusterSection,
    order: byId,
    assemble: (pieces) => Buffer.from(statusPageOf(pieces)),
  });
}
