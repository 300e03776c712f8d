/** The three views of the snapshot store the server renders, each shared by concurrent requests. */
import { clusterToJson } from '../engine/json.ts';
import type { SnapshotStore } from '../engine/snapshot.ts';
import type { InspectionCollector } from '../metrics/collector.ts';
import { SharedRender } from './shared-render.ts';
import { byId, clusterSection, statusPageOf } from './status-page.ts';

/** The inspection part of /metrics: every cluster's series, grouped by family under one HELP/TYPE header. */
export function metricsView(
  store: SnapshotStore,
  collector: InspectionCollector,
): SharedRender<ReadonlyMap<string, string>> {
  return new SharedRender(store, {
    piece: (cluster) => collector.clusterText(cluster),
    assemble: (pieces) => {
      const parts: string[] = [];
      for (const family of collector.families) {
        let header = false;
        for (const piece of pieces) {
          const text = piece.get(family.name);
          if (text === undefined) continue;
          if (!header) parts.push(family.header);
          header = true;
          parts.push(text);
        }
      }
      return parts.join('');
    },
  });
}

/** /api/v1/clusters: one JSON text per cluster, joined; pieceOf() serves /api/v1/clusters/:id. */
export function clustersJsonView(store: SnapshotStore): SharedRender<string> {
  return new SharedRender(store, {
    piece: (cluster) => JSON.stringify(clusterToJson(cluster)),
    assemble: (pieces) => `{"clusters":[${pieces.join(',')}]}`,
  });
}

/** The status page (/). */
export function statusPageView(store: SnapshotStore): SharedRender<string> {
  return new SharedRender(store, { piece: clusterSection, order: byId, assemble: statusPageOf });
}
