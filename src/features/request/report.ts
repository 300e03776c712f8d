/**
 * The request inspection's reporter: one round's outcome (series, summary,
 * verdict) from the details the watch loop reports. No state, no I/O.
 */
import { failedOutcome, type InspectionOutcome } from '../../engine/contract.ts';
import { family, type MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { humanBytes } from '../units.ts';
import type { StreamState, WatchState } from './state.ts';

export const REQUEST_METRICS = {
  requests: family.counter(
    'inspection_etcd_request_total',
    'PUT and DELETE events seen by the watch, by key prefix and resource (kstone-compatible name). Monotonic for the life of the session; events in a compacted gap are not in it (see inspection_etcd_request_recounts_total).',
    ['grpcMethod', 'etcdPrefix', 'resourceName'],
  ),
  keys: family.gauge(
    'inspection_etcd_key_total',
    'Keys by key prefix and resource, exact at the last processed revision (kstone-compatible name).',
    ['etcdPrefix', 'resourceName'],
  ),
  ready: family.gauge(
    'inspection_etcd_request_ready',
    '1 once the initial key count has completed (the request and key families are only exported then), else 0.',
  ),
  watchUp: family.gauge(
    'inspection_etcd_request_watch_up',
    '1 while the watch stream of every prefix is established, else 0 (counting, reconnecting).',
  ),
  events: family.counter(
    'inspection_etcd_request_events_processed_total',
    'Watch events processed (the sum of inspection_etcd_request_total), for rate().',
  ),
  eventsRate: family.gauge(
    'inspection_etcd_request_events_per_second',
    'Watch events processed per second over the last inspection interval.',
  ),
  lagRevisions: family.gauge(
    'inspection_etcd_request_watch_lag_revisions',
    "Cluster revision (the leader's Status, watch headers, member Status) minus the last processed revision.",
  ),
  lagSeconds: family.gauge(
    'inspection_etcd_request_watch_lag_seconds',
    'Estimated time the watch trails the cluster: the larger of the age of the oldest revision seen but not processed and the lag in revisions over the recent revision rate (0 when caught up).',
  ),
  processedRevision: family.gauge(
    'inspection_etcd_request_processed_revision',
    'Last revision the counts are exact at (lowest over the prefixes; float: exact up to 2^53).',
  ),
  restarts: family.counter(
    'inspection_etcd_request_watch_restarts_total',
    'Times the watch was resumed after a stream failure (member down, leader lost, disconnect).',
  ),
  resourceBytes: family.gauge(
    'inspection_etcd_resource_bytes',
    'Bytes of keys and values (as stored) by key prefix and resource, exact at the last processed revision (request option sizes).',
    ['etcdPrefix', 'resourceName'],
  ),
  resourceAverage: family.gauge(
    'inspection_etcd_resource_object_average_bytes',
    'Average bytes (key + value) of an object of the resource (request option sizes).',
    ['etcdPrefix', 'resourceName'],
  ),
  resourceLargest: family.gauge(
    'inspection_etcd_resource_object_largest_bytes',
    'Bytes (key + value) of the largest object of the resource; absent while unknown (request option sizes).',
    ['etcdPrefix', 'resourceName'],
  ),
  sizesComplete: family.gauge(
    'inspection_etcd_request_sizes_complete',
    '1 when the keyspace sizes are exact (totals, every largest object, the top keys), 0 while a re-scan is due or running.',
  ),
  sizeRescans: family.counter(
    'inspection_etcd_request_size_rescans_total',
    'Sizes scans run again because the kept largest keys were deleted or shrank (re-counts after compaction not included).',
  ),
  recounts: family.counter(
    'inspection_etcd_request_recounts_total',
    'Re-counts because the resume revision had been compacted; the events in the gap are not counted.',
  ),
} as const satisfies Record<string, MetricDefinition>;

export interface PrefixDetails {
  readonly prefix: string;
  readonly etcdPrefix: string;
  readonly phase: string;
  /** This prefix's stream: idle, counting, connecting, watching. */
  readonly stream: StreamState;
  readonly watching: boolean;
  readonly keys: number;
  readonly countRevision: bigint;
  readonly processedRevision: bigint;
}

export interface ResourceDetails {
  readonly etcdPrefix: string;
  readonly resourceName: string;
  readonly keys: number;
  readonly puts: number;
  readonly deletes: number;
  /** With sizes: bytes of keys and values (as stored), their average per key, and the largest object (null: unknown until a re-scan). */
  readonly bytes?: number;
  readonly averageBytes?: number;
  readonly largest?: { readonly key: string; readonly bytes: number } | null;
}

export interface TopKeyDetails {
  readonly key: string;
  readonly bytes: number;
  readonly etcdPrefix: string;
  readonly resourceName: string;
}

/** Keyspace sizes (option sizes of the request feature). */
export interface SizesDetails {
  readonly scanBytesPerSecond: number;
  /** Bytes read so far by the scans in progress (0 when none runs). */
  readonly scanningBytes: number;
  /** Totals exact, every resource's largest known, the top keys exactly the largest. */
  readonly complete: boolean;
  /** Scans run again because the kept largest keys ran out (not counting re-counts after compaction). */
  readonly rescans: number;
  readonly totalBytes: number;
  /** The largest keys, largest first (at most option topKeys). */
  readonly topKeys: readonly TopKeyDetails[];
  /** false: a top key was deleted or shrank and the next largest is not known until a re-scan. */
  readonly topKeysExact: boolean;
}

export interface RequestDetails {
  readonly state: WatchState;
  readonly ready: boolean;
  /** host:port of the member the watch is on ('' between attempts). */
  readonly member: string;
  readonly clusterRevision: bigint;
  readonly processedRevision: bigint;
  readonly lagRevisions: bigint;
  readonly lagSeconds: number;
  readonly eventsProcessed: number;
  readonly eventsPerSecond: number;
  readonly duplicatesSkipped: number;
  readonly watchRestarts: number;
  readonly recounts: number;
  /** Revisions skipped by re-counts (their events are unknowable). */
  readonly recountGapRevisions: bigint;
  /** Keys counted so far by the counts in progress (0 when none runs). */
  readonly countingKeys: number;
  readonly resourceNames: number;
  readonly maxResourceNames: number;
  readonly overflowed: boolean;
  readonly lastError: string | null;
  readonly prefixes: readonly PrefixDetails[];
  readonly resources: readonly ResourceDetails[];
  /** null when the option sizes is off. */
  readonly sizes: SizesDetails | null;
}

/**
 * The outcome of a round. `failing`: the watch has been down for a whole
 * interval (a resume after a member restart is not a failed round).
 */
export function requestOutcome(details: RequestDetails, failing: boolean): InspectionOutcome {
  const metrics = requestMetrics(details);
  const summary = requestSummary(details);
  if (failing) {
    const error = `watch down: ${details.lastError ?? 'unknown error'}`;
    return failedOutcome(error, { summary: `${summary}; ${error}`, details, metrics });
  }
  return { ok: true, summary, problems: [], details, metrics };
}

/** ready and watch_up always; the request and key families once the initial count is done. */
export function requestMetrics(details: RequestDetails): MetricSample[] {
  const metric = REQUEST_METRICS;
  const watchUp = details.prefixes.every((p) => p.watching);
  const out: MetricSample[] = [
    { name: metric.ready.name, labels: {}, value: details.ready ? 1 : 0 },
    { name: metric.watchUp.name, labels: {}, value: watchUp ? 1 : 0 },
  ];
  if (!details.ready) return out;
  for (const r of details.resources) {
    const labels = { etcdPrefix: r.etcdPrefix, resourceName: r.resourceName };
    out.push(
      { name: metric.requests.name, labels: { grpcMethod: 'PUT', ...labels }, value: r.puts },
      { name: metric.requests.name, labels: { grpcMethod: 'DELETE', ...labels }, value: r.deletes },
      { name: metric.keys.name, labels, value: r.keys },
    );
    if (r.bytes !== undefined) {
      out.push(
        { name: metric.resourceBytes.name, labels, value: r.bytes },
        { name: metric.resourceAverage.name, labels, value: r.averageBytes ?? 0 },
      );
      if (r.largest != null) out.push({ name: metric.resourceLargest.name, labels, value: r.largest.bytes });
    }
  }
  if (details.sizes !== null)
    out.push(
      { name: metric.sizesComplete.name, labels: {}, value: details.sizes.complete ? 1 : 0 },
      { name: metric.sizeRescans.name, labels: {}, value: details.sizes.rescans },
    );
  out.push(
    { name: metric.events.name, labels: {}, value: details.eventsProcessed },
    { name: metric.eventsRate.name, labels: {}, value: details.eventsPerSecond },
    { name: metric.lagRevisions.name, labels: {}, value: Number(details.lagRevisions) },
    { name: metric.lagSeconds.name, labels: {}, value: details.lagSeconds },
    { name: metric.processedRevision.name, labels: {}, value: Number(details.processedRevision) },
    { name: metric.restarts.name, labels: {}, value: details.watchRestarts },
    { name: metric.recounts.name, labels: {}, value: details.recounts },
  );
  return out;
}

export function requestSummary(details: RequestDetails): string {
  const where = details.member === '' ? '' : ` on ${details.member}`;
  if (!details.ready) {
    const lastError = details.lastError === null ? '' : `; last error: ${details.lastError}`;
    const scanned = details.sizes === null ? '' : `, ${humanBytes(keyspaceProgress(details)!.bytes)}`;
    return `initial key count in progress${where} (${details.countingKeys} keys${scanned} so far)${lastError}`;
  }
  const keys = details.prefixes.reduce((n, p) => n + p.keys, 0);
  const state = details.prefixes.every((p) => p.watching)
    ? `watching${where}`
    : details.prefixes.some((p) => p.phase === 'compacted')
      ? `re-counting after compaction${where}`
      : details.state === 'backoff'
        ? 'reconnecting'
        : `connecting${where}`;
  const sizes = details.sizes;
  let bytes = '';
  if (sizes !== null) {
    const largest = [...details.resources].sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0))[0];
    bytes = `, ${humanBytes(sizes.totalBytes)}${largest?.bytes !== undefined ? ` (largest resource ${largest.resourceName}: ${humanBytes(largest.bytes)})` : ''}${sizes.complete ? '' : ', sizes re-scan due'}`;
  }
  return `${state} at revision ${details.processedRevision} (lag ${details.lagRevisions} revisions, ${details.lagSeconds.toFixed(1)} s): ${keys} keys in ${details.resources.length} resources${bytes}, ${details.eventsPerSecond.toFixed(1)} events/s`;
}

/** What the outputs show of the keyspace sizes: resources by bytes, then the largest keys. */
export interface KeyspaceView {
  readonly complete: boolean;
  readonly totalBytes: number;
  readonly resources: readonly ResourceDetails[];
  readonly topKeys: readonly TopKeyDetails[];
  readonly topKeysExact: boolean;
}

/**
 * The keyspace sizes of a request round's details (as the snapshot holds
 * them), largest resources first, at most `maxResources`; undefined when the
 * details have none (option sizes off, or not ready yet).
 */
export function keyspaceView(details: unknown, maxResources = 20): KeyspaceView | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const d = details as Partial<RequestDetails>;
  if (d.ready !== true || d.sizes == null || !Array.isArray(d.resources)) return undefined;
  return {
    complete: d.sizes.complete,
    totalBytes: d.sizes.totalBytes,
    resources: [...d.resources]
      .filter((r) => r.bytes !== undefined && r.keys > 0)
      .sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0))
      .slice(0, maxResources),
    topKeys: d.sizes.topKeys,
    topKeysExact: d.sizes.topKeysExact,
  };
}

/** How far the first sizes scan got: keys and bytes read, and which prefixes it finished. */
export interface KeyspaceProgress {
  readonly keys: number;
  readonly bytes: number;
  readonly scanBytesPerSecond: number;
  readonly prefixes: readonly { readonly prefix: string; readonly done: boolean }[];
}

/**
 * The progress of the initial sizes scan while it runs (not ready yet);
 * undefined when sizes are not kept or the scan is done. Finished prefixes
 * count whole, the one being scanned as far as it got.
 */
export function keyspaceProgress(details: unknown): KeyspaceProgress | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const d = details as Partial<RequestDetails>;
  if (d.ready !== false || d.sizes == null || !Array.isArray(d.prefixes)) return undefined;
  return {
    keys: d.prefixes.reduce((n, p) => n + (p.phase === 'uncounted' ? 0 : p.keys), 0) + (d.countingKeys ?? 0),
    bytes: d.sizes.totalBytes + d.sizes.scanningBytes,
    scanBytesPerSecond: d.sizes.scanBytesPerSecond,
    prefixes: d.prefixes.map((p) => ({ prefix: p.prefix, done: p.phase !== 'uncounted' })),
  };
}
