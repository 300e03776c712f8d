/**
 * The request inspection: what is written where.
 *
 * Per cluster, a session counts the keys of each resource under the
 * configured prefixes at one revision R (keys-only range pages pinned to R,
 * only per-label counts kept), then watches from R + 1 on a member channel
 * of its own, with progress notifications and require-leader. Every PUT and
 * DELETE event counts once in inspection_etcd_request_total; the key counts
 * stay exact (a PUT that creates adds one, a DELETE removes one).
 *
 * The watch runs in the background for the life of the session; inspect()
 * only reports its state. On a stream failure it resumes from the last
 * processed revision + 1 on the next member, after a bounded backoff; when
 * that revision has been compacted it re-counts at a new revision (the
 * events in the gap are unknowable: logged and counted).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../../errors.ts';
import { EtcdError, type WatchMessage } from '../../etcd/types.ts';
import {
  defineFeature,
  type ClusterHandle,
  type EtcdV3ReadView,
  type FeatureSession,
  type InspectionOutcome,
  type MemberHandle,
  type OwnedV3ReadClient,
} from '../../engine/contract.ts';
import { realClock } from '../../clock.ts';
import { LagEstimator } from './lag.ts';
import { BytePacer, nextPageKeys } from './pacer.ts';
import { ResourceLabeler, type LabelSlot } from './labels.ts';
import { parseRequestOptions, RequestOptionsSchema, type RequestOptions } from './options.ts';
import { backoffMs, failuresAfter, pickWatchMember } from './resume.ts';
import {
  REQUEST_METRICS,
  requestOutcome,
  type RequestDetails,
  type ResourceDetails,
  type TopKeyDetails,
} from './report.ts';
import type { SizedKey } from './sizes.ts';
import { PrefixStream, watchState, type LoopState, type WatchState } from './state.ts';
import { PrefixTracker, RequestCounters, type KeyCount } from './tracker.ts';

export type { WatchState } from './state.ts';
export {
  REQUEST_METRICS,
  type PrefixDetails,
  type RequestDetails,
  type ResourceDetails,
} from './report.ts';

/** A sizes scan asks for about this many bytes of keys and values per page (bounds the memory of a page). */
const SCAN_PAGE_BYTES = 4 * 1024 * 1024;
/** The leader's revision is sampled at most this often (rounds more frequent than this reuse it). */
const CLUSTER_SAMPLE_MS = 1_000;
const CLUSTER_SAMPLE_TIMEOUT_MS = 2_000;

class RequestSession implements FeatureSession {
  readonly #cluster: ClusterHandle;
  readonly #options: RequestOptions;
  readonly #labeler: ResourceLabeler;
  readonly #counters = new RequestCounters();
  readonly #trackers: readonly PrefixTracker[];
  /** The stream of each tracker (same index): the session's state is derived from them. */
  readonly #streams: readonly PrefixStream[];
  readonly #lag = new LagEstimator();
  readonly #abort = new AbortController();
  readonly #loop: Promise<void>;

  #loopState: LoopState = 'starting';
  #member = '';
  #memberUrl: string | undefined;
  #watchRestarts = 0;
  #recounts = 0;
  #recountGap = 0n;
  /** The counts in progress, per prefix (several prefixes count at once). */
  readonly #counting = new Map<PrefixTracker, KeyCount>();
  /** When each prefix's last (re-)count finished (performance.now()), for the re-scan interval. */
  readonly #scannedAt = new Map<PrefixTracker, number>();
  #failures = 0;
  #lastError: string | undefined;
  /** When the current run of failures began (performance.now()); undefined while healthy. */
  #failingSince: number | undefined;
  #establishedAt: number | undefined;
  #previousInspect: { at: number; events: number };
  #inspected = false;
  #lastClusterSample: number | undefined;
  readonly #firstCount = Promise.withResolvers<void>();

  constructor(cluster: ClusterHandle, options: RequestOptions) {
    this.#cluster = cluster;
    this.#options = options;
    this.#labeler = new ResourceLabeler(options.maxResourceNames);
    this.#trackers = options.prefixes.map((p) => new PrefixTracker(p, this.#labeler, options.sizes?.topKeys));
    this.#streams = this.#trackers.map(() => new PrefixStream());
    this.#previousInspect = { at: performance.now(), events: 0 };
    this.#loop = this.#run().catch((err: unknown) => {
      // Not expected: #run handles its errors. Logged so that it is never silent.
      this.#cluster.logger.error(
        { feature: 'request', error: errorMessage(err) },
        'request watch loop stopped',
      );
    });
  }

  // ---- the background watch ------------------------------------------------

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    try {
      await this.#cluster.ready(signal);
    } catch {
      return;
    }
    let first = true;
    while (!signal.aborted) {
      const members = this.#cluster.members();
      const index = pickWatchMember(
        // A learner serves no watch: it is only tried when nothing else is left.
        members.map((m) => ({
          url: m.endpoint?.url,
          responsive: m.snapshot.error === undefined && m.snapshot.role !== 'learner',
          leader: m.snapshot.role === 'leader',
        })),
        this.#memberUrl,
      );
      const member = index === undefined ? undefined : members[index];
      if (!first) this.#watchRestarts++;
      first = false;
      if (member === undefined) {
        this.#fail(new Error('no member has a client URL'), undefined);
      } else {
        this.#loopState = 'attempting';
        await this.#attempt(member, signal);
      }
      if (signal.aborted) break;
      this.#loopState = 'backoff';
      try {
        await sleep(backoffMs(this.#failures), undefined, { signal });
      } catch {
        break;
      }
    }
    this.#loopState = 'closed';
  }

  /** The session's state: never stored, derived from the loop and every prefix's stream. */
  get #state(): WatchState {
    return watchState(
      this.#loopState,
      this.#streams.map((s) => s.state),
    );
  }

  /** Counts (if needed) and watches every prefix on one member until a stream fails or the session closes. */
  async #attempt(member: MemberHandle, signal: AbortSignal): Promise<void> {
    const endpoint = member.endpoint!;
    this.#memberUrl = endpoint.url;
    this.#member = member.snapshot.endpoint !== '' ? member.snapshot.endpoint : endpoint.hostPort;
    this.#establishedAt = undefined;
    let owned: OwnedV3ReadClient;
    try {
      owned = this.#cluster.openV3Client(endpoint);
    } catch (err) {
      if (!signal.aborted) this.#fail(err, undefined);
      return;
    }
    const attempt = new AbortController();
    const attemptSignal = AbortSignal.any([signal, attempt.signal]);
    let firstError: unknown;
    try {
      await Promise.all(
        this.#trackers.map((tracker, i) =>
          this.#track(tracker, this.#streams[i]!, owned.client, attemptSignal).catch((err: unknown) => {
            // One prefix failing ends the attempt: all resume together elsewhere.
            firstError ??= err;
            attempt.abort();
          }),
        ),
      );
    } finally {
      attempt.abort();
      for (const s of this.#streams) s.to('idle');
      this.#counting.clear();
      owned.close();
    }
    if (signal.aborted) return;
    const establishedFor =
      this.#establishedAt === undefined ? undefined : performance.now() - this.#establishedAt;
    this.#fail(firstError ?? new Error('watch ended'), establishedFor);
  }

  #fail(err: unknown, establishedForMs: number | undefined): void {
    this.#failures = failuresAfter(this.#failures, establishedForMs);
    this.#lastError = errorMessage(err);
    this.#failingSince ??= performance.now();
    this.#establishedAt = undefined;
    this.#cluster.logger.warn(
      { feature: 'request', member: this.#member, error: this.#lastError, failures: this.#failures },
      'request watch failed; resuming on the next member',
    );
  }

  async #track(
    tracker: PrefixTracker,
    stream: PrefixStream,
    client: EtcdV3ReadView,
    signal: AbortSignal,
  ): Promise<void> {
    for (;;) {
      if (tracker.needsCount) {
        stream.to('counting');
        await this.#count(tracker, client, signal);
      }
      if (signal.aborted) return;
      const startRevision = tracker.resumeRevision();
      stream.to('connecting');
      const watch = client.watch(
        {
          key: tracker.key,
          rangeEnd: tracker.rangeEnd,
          startRevision,
          progressNotify: true,
          requireLeader: true,
          // Sizes need the previous value of an updated or deleted key (no per-key state is kept).
          prevKv: tracker.keepsSizes,
        },
        signal,
      );
      let ended = false;
      for await (const msg of watch) {
        const next = this.#handle(tracker, stream, msg, startRevision);
        if (next === 'compacted') ended = true;
        if (next === 'rescan') {
          // Leaving the loop cancels the stream; the re-scan is pinned to the revision processed.
          ended = true;
          break;
        }
      }
      if (signal.aborted) return;
      if (!ended) throw new Error(`watch of ${tracker.prefix} on ${this.#member} ended`);
    }
  }

  /**
   * Applies one watch message: 'compacted' when the watch ended because its
   * start revision was compacted, 'rescan' when the sizes need a new scan
   * (the watch is to be left), else 'continue'.
   */
  #handle(
    tracker: PrefixTracker,
    stream: PrefixStream,
    msg: WatchMessage,
    startRevision: bigint,
  ): 'continue' | 'compacted' | 'rescan' {
    const now = performance.now();
    switch (msg.kind) {
      case 'created':
        stream.to('watching');
        this.#lag.observe(msg.header.revision, now);
        if (this.#streams.every((s) => s.watching)) this.#established(startRevision);
        return 'continue';
      case 'events':
        this.#lag.observe(msg.header.revision, now);
        tracker.applyEvents(msg.events, this.#counters);
        this.#lag.prune(this.#processedRevision());
        return this.#rescanDue(tracker) ? 'rescan' : 'continue';
      case 'progress':
        this.#lag.observe(msg.header.revision, now);
        tracker.onProgress(msg.header.revision);
        this.#lag.prune(this.#processedRevision());
        // A re-scan held back by sizeRescanMinIntervalSeconds starts here on a prefix with no more events.
        return this.#rescanDue(tracker) ? 'rescan' : 'continue';
      case 'compacted':
        tracker.onCompacted(msg.compactRevision);
        this.#cluster.logger.warn(
          {
            feature: 'request',
            prefix: tracker.prefix,
            member: this.#member,
            resumeRevision: startRevision.toString(),
            compactRevision: msg.compactRevision.toString(),
          },
          'request watch: the resume revision has been compacted; re-counting',
        );
        return 'compacted';
      case 'canceled':
        throw new Error(
          `watch of ${tracker.prefix} canceled by ${this.#member}: ${msg.reason || 'no reason given'}`,
        );
    }
  }

  #established(startRevision: bigint): void {
    this.#establishedAt = performance.now();
    this.#failingSince = undefined;
    this.#lastError = undefined;
    this.#cluster.logger.info(
      { feature: 'request', member: this.#member, startRevision: startRevision.toString() },
      'request watch established',
    );
  }

  /**
   * Whether the sizes of this prefix need a new scan now: they stopped
   * answering exactly (top keys exhausted, a previous value missing) and the
   * last scan is at least sizeRescanMinIntervalSeconds old.
   */
  #rescanDue(tracker: PrefixTracker): boolean {
    const sizes = this.#options.sizes;
    if (sizes === undefined || !tracker.sizesIncomplete) return false;
    const last = this.#scannedAt.get(tracker);
    if (last !== undefined && performance.now() - last < sizes.rescanMinIntervalSeconds * 1000) return false;
    tracker.requestRescan();
    this.#cluster.logger.info(
      { feature: 'request', prefix: tracker.prefix, revision: tracker.processedRevision.toString() },
      'request: keyspace sizes no longer exact (largest keys deleted or shrunk); re-scanning at the processed revision',
    );
    return true;
  }

  /** One (re-)count: keys only, or with sizes a paced scan of keys and values; pinned when `revision` is given. */
  async #scan(
    count: KeyCount,
    tracker: PrefixTracker,
    client: EtcdV3ReadView,
    revision: bigint | undefined,
    signal: AbortSignal,
  ): Promise<void> {
    const sizes = this.#options.sizes;
    if (sizes === undefined || !tracker.keepsSizes) {
      const pages = client.rangePages(
        {
          key: tracker.key,
          rangeEnd: tracker.rangeEnd,
          keysOnly: true,
          pageSize: this.#options.countPageSize,
        },
        { signal },
      );
      for await (const page of pages)
        count.addPage(
          page.header.revision,
          page.kvs.map((kv) => kv.key),
        );
      return;
    }
    const pacer = new BytePacer(realClock, sizes.scanBytesPerSecond);
    let key = tracker.key;
    let pinned = revision ?? 0n;
    for (;;) {
      const limit = nextPageKeys(count.bytes, count.keys, SCAN_PAGE_BYTES, this.#options.countPageSize);
      const page = await client.range(
        { key, rangeEnd: tracker.rangeEnd, limit, revision: pinned },
        { signal },
      );
      // The first page of an unpinned scan fixes the revision of the whole walk.
      if (pinned === 0n) pinned = page.header.revision;
      const before = count.bytes;
      count.addKeyValues(pinned, page.kvs);
      const last = page.kvs.at(-1);
      if (!page.more || last === undefined) return;
      key = Buffer.concat([last.key, Buffer.from([0])]);
      await pacer.consume(count.bytes - before, signal);
    }
  }

  async #count(tracker: PrefixTracker, client: EtcdV3ReadView, signal: AbortSignal): Promise<void> {
    const t0 = performance.now();
    for (let attempt = 1; ; attempt++) {
      const count = tracker.beginCount();
      this.#counting.set(tracker, count);
      try {
        // A sizes re-scan reads at the revision processed; if that was compacted, the retry reads the latest.
        await this.#scan(count, tracker, client, attempt === 1 ? tracker.countAt : undefined, signal);
      } catch (err) {
        // The pinned revision was compacted during the walk: start over at a newer one.
        if (err instanceof EtcdError && err.code === 'compacted' && attempt < 5 && !signal.aborted) continue;
        throw err;
      } finally {
        this.#counting.delete(tracker);
      }
      if (signal.aborted) return;
      const rescan = tracker.phase === 'rescan';
      const result = tracker.finishCount(count);
      this.#scannedAt.set(tracker, performance.now());
      if (this.#trackers.every((t) => t.counted)) this.#firstCount.resolve();
      this.#lag.observe(result.revision, performance.now());
      const fields = {
        feature: 'request',
        prefix: tracker.prefix,
        member: this.#member,
        revision: result.revision.toString(),
        keys: result.keys,
        ms: Math.round(performance.now() - t0),
        ...(tracker.keepsSizes ? { bytes: count.bytes } : {}),
      };
      if (result.recount) {
        this.#recounts++;
        this.#recountGap += result.gapRevisions;
        this.#cluster.logger.warn(
          { ...fields, gapRevisions: result.gapRevisions.toString() },
          'request: re-counted after compaction; events in the compacted gap are not in inspection_etcd_request_total',
        );
      } else {
        this.#cluster.logger.info(
          fields,
          rescan ? 'request: keyspace sizes re-scanned' : 'request: initial key count done',
        );
      }
      return;
    }
  }

  #processedRevision(): bigint {
    let min: bigint | undefined;
    for (const t of this.#trackers)
      if (min === undefined || t.processedRevision < min) min = t.processedRevision;
    return min ?? 0n;
  }

  // ---- the round -------------------------------------------------------------

  async inspect(signal: AbortSignal): Promise<InspectionOutcome> {
    if (!this.#inspected) {
      this.#inspected = true;
      // The first round gives a small keyspace the time to be counted (a
      // one-shot `inspect` then shows real numbers), without holding a round
      // slot for long on a big one (option firstRoundWaitSeconds, default 3 s;
      // `inspect --keyspace-sizes` waits up to its deadline).
      await this.#waitFirstCount(this.#options.firstRoundWaitMs, signal);
    }
    await this.#sampleClusterRevision(signal);
    const now = performance.now();
    // Member Status revisions from discovery: the lag keeps growing while the watch is down.
    for (const m of this.#cluster.members())
      if (m.snapshot.revision !== undefined) this.#lag.observe(m.snapshot.revision, now);
    const ready = this.#trackers.every((t) => t.counted);
    const processed = this.#processedRevision();
    const lag = this.#lag.lag(processed, now);
    const elapsed = (now - this.#previousInspect.at) / 1000;
    const eventsPerSecond =
      elapsed > 0 ? (this.#counters.eventsProcessed - this.#previousInspect.events) / elapsed : 0;
    // A failure counts once it has lasted a whole interval: a resume after a member restart is not a failed round.
    const failing = this.#failingSince !== undefined && this.#failingSince <= this.#previousInspect.at;
    this.#previousInspect = { at: now, events: this.#counters.eventsProcessed };

    return requestOutcome(this.#details(ready, lag, processed, eventsPerSecond), failing);
  }

  /**
   * The cluster's revision now, from the leader's Status (at most once per
   * CLUSTER_SAMPLE_MS, on the shared round client): the watch's own headers
   * come from the member it is on, which may trail the leader. No verdict
   * depends on it; a failure only leaves the lag to the other observations.
   */
  async #sampleClusterRevision(signal: AbortSignal): Promise<void> {
    // A first round that waited until its deadline reports what it has at once.
    if (signal.aborted) return;
    const now = performance.now();
    if (this.#lastClusterSample !== undefined && now - this.#lastClusterSample < CLUSTER_SAMPLE_MS) return;
    this.#lastClusterSample = now;
    const leader = this.#cluster
      .members()
      .find((m) => m.snapshot.role === 'leader' && m.endpoint !== undefined);
    if (leader === undefined) return;
    try {
      const status = await leader.v3().status({ signal, timeoutMs: CLUSTER_SAMPLE_TIMEOUT_MS });
      this.#lag.sampleCluster(status.header.revision, performance.now());
    } catch {
      // The leader moved or is down: discovery and the watch headers still feed the lag.
    }
  }

  async #waitFirstCount(ms: number, signal: AbortSignal): Promise<void> {
    const stop = new AbortController();
    try {
      await Promise.race([
        this.#firstCount.promise,
        sleep(ms, undefined, { signal: AbortSignal.any([signal, stop.signal]) }).catch(() => undefined),
      ]);
    } finally {
      stop.abort();
    }
  }

  /** Key counts by label, all prefixes together (two prefixes may share an etcdPrefix). */
  #keyTotals(): Map<LabelSlot, number> {
    const totals = new Map<LabelSlot, number>();
    for (const t of this.#trackers)
      for (const [slot, n] of t.keyCounts()) totals.set(slot, (totals.get(slot) ?? 0) + n);
    return totals;
  }

  #details(
    ready: boolean,
    lag: { revisions: bigint; seconds: number; clusterRevision: bigint },
    processed: bigint,
    eventsPerSecond: number,
  ): RequestDetails {
    const keys = this.#keyTotals();
    const sizes = this.#options.sizes === undefined ? undefined : this.#sizeTotals();
    const resources: ResourceDetails[] = ready
      ? this.#labeler.slots().map((slot) => {
          const n = keys.get(slot) ?? 0;
          const size = sizes?.resources.get(slot);
          return {
            etcdPrefix: slot.etcdPrefix,
            resourceName: slot.resourceName,
            keys: n,
            puts: this.#counters.puts.get(slot) ?? 0,
            deletes: this.#counters.deletes.get(slot) ?? 0,
            ...(size !== undefined
              ? {
                  bytes: size.bytes,
                  averageBytes: n > 0 ? size.bytes / n : 0,
                  largest: size.largest ?? null,
                }
              : {}),
          };
        })
      : [];
    return {
      state: this.#state,
      ready,
      member: this.#member,
      clusterRevision: lag.clusterRevision,
      processedRevision: processed,
      lagRevisions: lag.revisions,
      lagSeconds: lag.seconds,
      eventsProcessed: this.#counters.eventsProcessed,
      eventsPerSecond,
      duplicatesSkipped: this.#counters.duplicatesSkipped,
      watchRestarts: this.#watchRestarts,
      recounts: this.#recounts,
      recountGapRevisions: this.#recountGap,
      countingKeys: [...this.#counting.values()].reduce((n, c) => n + c.keys, 0),
      resourceNames: this.#labeler.admitted,
      maxResourceNames: this.#labeler.maxResourceNames,
      overflowed: this.#labeler.overflowed,
      lastError: this.#lastError ?? null,
      prefixes: this.#trackers.map((t, i) => ({
        prefix: t.prefix,
        etcdPrefix: t.etcdPrefix,
        phase: t.phase,
        stream: this.#streams[i]!.state,
        watching: this.#streams[i]!.watching,
        keys: t.totalKeys(),
        countRevision: t.countRevision,
        processedRevision: t.processedRevision,
      })),
      resources,
      sizes:
        sizes === undefined
          ? null
          : {
              scanBytesPerSecond: this.#options.sizes!.scanBytesPerSecond,
              scanningBytes: [...this.#counting.values()].reduce((n, c) => n + c.bytes, 0),
              complete: sizes.complete,
              rescans: this.#trackers.reduce((n, t) => n + t.sizeRescans, 0),
              totalBytes: sizes.totalBytes,
              topKeys: sizes.topKeys,
              topKeysExact: sizes.topKeysExact,
            },
    };
  }

  /** Sizes by label and the top keys, all prefixes together (each prefix's state is exact on its own). */
  #sizeTotals(): {
    resources: Map<LabelSlot, { bytes: number; largest: SizedKey | undefined }>;
    totalBytes: number;
    topKeys: TopKeyDetails[];
    topKeysExact: boolean;
    complete: boolean;
  } {
    const topKeys = this.#options.sizes?.topKeys ?? 0;
    const resources = new Map<LabelSlot, { bytes: number; largest: SizedKey | undefined }>();
    const top: TopKeyDetails[] = [];
    let totalBytes = 0;
    let topKeysExact = true;
    let complete = true;
    for (const t of this.#trackers) {
      const state = t.sizes;
      if (state === undefined) {
        complete = false;
        topKeysExact = false;
        continue;
      }
      const counts = t.keyCounts();
      if (!state.complete(counts)) complete = false;
      for (const [slot, n] of counts) {
        const r = state.resource(slot, n);
        totalBytes += r.bytes;
        const known = resources.get(slot);
        const largest =
          known === undefined
            ? r.largest
            : known.largest === undefined || r.largest === undefined
              ? undefined
              : known.largest.bytes >= r.largest.bytes
                ? known.largest
                : r.largest;
        resources.set(slot, { bytes: (known?.bytes ?? 0) + r.bytes, largest });
      }
      const largest = state.largest(topKeys, t.totalKeys());
      if (!largest.exact) topKeysExact = false;
      for (const k of largest.keys) {
        const raw = Buffer.from(k.key, 'latin1');
        const slot = t.slotOf(raw);
        top.push({
          key: raw.toString('utf8'),
          bytes: k.bytes,
          etcdPrefix: slot.etcdPrefix,
          resourceName: slot.resourceName,
        });
      }
    }
    top.sort((a, b) => b.bytes - a.bytes);
    return { resources, totalBytes, topKeys: top.slice(0, topKeys), topKeysExact, complete };
  }

  async close(): Promise<void> {
    this.#abort.abort(new Error('request feature closed'));
    await this.#loop;
  }
}

export const requestFeature = defineFeature({
  name: 'request',
  description:
    'Counts keys per resource and watches every PUT and DELETE under the configured prefixes (Kubernetes layout labels).',
  backends: ['v3'],
  defaultIntervalSeconds: 30,
  metrics: REQUEST_METRICS,
  optionsSchema: RequestOptionsSchema,
  parseOptions: parseRequestOptions,
  open: (cluster, options) => new RequestSession(cluster, options),
});
