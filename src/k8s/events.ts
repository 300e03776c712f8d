/**
 * An event recorder with client-go's EventCorrelator semantics
 * (k8s.io/client-go/tools/record/events_cache.go), writing core/v1 Events.
 *
 * Why core/v1 and not events.k8s.io/v1: the aggregation client-go's recorder
 * does (count, firstTimestamp/lastTimestamp, patching the existing Event) is
 * expressed in core/v1 fields, which `kubectl describe` and `kubectl get
 * events` show as they are (COUNT, LAST SEEN); both APIs store the same
 * objects, so nothing is lost. RBAC: create and patch on core `events`.
 *
 * recorder.event(obj, type, reason, message) is synchronous, O(1), never
 * throws and never waits for the API. It feeds three stages:
 *
 * 1. Aggregation of similar events: per (object, type, reason) the first
 *    maxSimilarMessages-1 distinct messages within similarWindowMs each get
 *    their own Event; further ones go into one Event whose message is
 *    "(combined from similar events): <latest message>".
 * 2. Correlation: the same (object, type, reason, message) bumps count and
 *    lastTimestamp of the existing Event (a JSON patch) instead of creating
 *    another. A patch that finds the Event gone (TTL) creates a new one.
 * 3. Spam filter: a token bucket per object (default burst 25, one token per
 *    5 minutes) bounds the API calls made for it. Unlike client-go, which
 *    drops the occurrences it cannot send, occurrences are counted locally
 *    and coalesced: the next call carries the true count. Occurrences
 *    recorded while a call for the same Event is in flight (or waits for a
 *    token) are likewise sent in one call.
 *
 * Calls run on a few workers over a WorkQueue (one Event is never written
 * twice at once), each with a timeout; transient failures are retried with
 * backoff a few times, then dropped and logged. At most maxPending Events
 * wait to be written; beyond that new ones are dropped (and counted).
 */
import { hostname } from 'node:os';
import type { CoreEvent } from './api/core.ts';
import { KubeApiError } from './client/errors.ts';
import type { ResourceClient } from './client/typed.ts';
import { silentLogger, type Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { realClock, type Clock } from '../clock.ts';
import { ItemExponentialFailureRateLimiter, TokenBucket } from './ratelimit.ts';
import { WorkQueue } from './workqueue.ts';

export type EventType = 'Normal' | 'Warning';

/** core/v1 ObjectReference: what the Event is about. */
export interface ObjectReference {
  readonly apiVersion: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly fieldPath?: string;
}

/** A Kubernetes object as read from the API (apiVersion and kind must be set) or a reference to one. */
export type EventSubject =
  | ObjectReference
  | {
      readonly apiVersion?: string;
      readonly kind?: string;
      readonly metadata?: {
        readonly name?: string;
        readonly namespace?: string;
        readonly uid?: string;
        readonly resourceVersion?: string;
      };
    };

/** What controllers depend on. */
export interface EventRecorder {
  /** Records an event about the object; returns at once, never throws. */
  event(subject: EventSubject, type: EventType, reason: string, message: string): void;
}

/** The core/v1 Event as the recorder creates it. */
export interface EventBody {
  readonly metadata: { readonly name: string; readonly namespace: string };
  readonly involvedObject: ObjectReference;
  readonly reason: string;
  readonly message: string;
  readonly type: EventType;
  readonly source: { readonly component: string; readonly host: string };
  readonly reportingComponent: string;
  readonly reportingInstance: string;
  /** RFC 3339, seconds. */
  readonly firstTimestamp: string;
  readonly lastTimestamp: string;
  readonly count: number;
}

export interface EventPatch {
  readonly count: number;
  readonly lastTimestamp: string;
  readonly message: string;
}

/** Where Events are written; API errors are KubeApiErrors (their code says whether to retry). */
export interface EventSink {
  create(event: EventBody, signal: AbortSignal): Promise<void>;
  patch(namespace: string, name: string, patch: EventPatch, signal: AbortSignal): Promise<void>;
}

export interface EventRecorderOptions {
  readonly sink: EventSink;
  /** source.component and reportingComponent, e.g. "etcdcluster-controller". */
  readonly component: string;
  /** source.host and reportingInstance; default the hostname. */
  readonly instance?: string;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Spam filter per object: bucket size (default 25) and time to regain one token (default 300 000 ms). */
  readonly spamBurst?: number;
  readonly spamRefillMs?: number;
  /** Distinct messages per (object, type, reason) before they are combined (default 10, as client-go). */
  readonly maxSimilarMessages?: number;
  /** Window of that count (default 600 000 ms). */
  readonly similarWindowMs?: number;
  /** Events remembered for correlation, and objects for the spam filter (LRU, default 4096 each). */
  readonly cacheSize?: number;
  /** Events with occurrences not yet written, at most (default 1000); beyond, new Events are dropped. */
  readonly maxPending?: number;
  /** Concurrent API calls (default 2). */
  readonly workers?: number;
  /** Deadline of each API call (default 10 000 ms). */
  readonly callTimeoutMs?: number;
  /** Attempts for a transient failure before the occurrences are dropped (default 4). */
  readonly maxAttempts?: number;
  /** Backoff between attempts: base and cap (default 1 s, 60 s). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

export interface EventRecorderStats {
  /** event() calls accepted. */
  readonly recorded: number;
  readonly creates: number;
  readonly patches: number;
  /** Times an Event waited for a spam-filter token. */
  readonly deferred: number;
  /** Occurrences dropped: queue full, invalid input, permanent errors, retries exhausted, or stop(). */
  readonly dropped: number;
  readonly failedCalls: number;
}

/** Longest message written (client-go's events.k8s.io limit for `note`); longer ones are cut. */
export const MAX_MESSAGE_LENGTH = 1024;
const COMBINED_PREFIX = '(combined from similar events): ';

interface Entry {
  readonly key: string;
  readonly spamKey: string;
  readonly namespace: string;
  readonly involvedObject: ObjectReference;
  readonly type: EventType;
  readonly reason: string;
  message: string;
  /** Occurrences recorded, and how many of them the API has. */
  count: number;
  sentCount: number;
  readonly firstTimestamp: Date;
  lastTimestamp: Date;
  /** The Event's name once created. */
  name: string | undefined;
  /** Monotonic time until which the entry waits for a spam token. */
  deferredUntil: number;
  attempts: number;
}

interface Similar {
  readonly messages: Set<string>;
  lastAt: number;
}

/** HTTP status of an API error (undefined for transport errors). */
function apiStatus(err: unknown): number | undefined {
  return err instanceof KubeApiError ? err.code : undefined;
}

function isRef(s: EventSubject): s is ObjectReference {
  return typeof (s as { name?: unknown }).name === 'string';
}

/** RFC 3339 at second precision, as metav1.Time is stored. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** Reads a key and moves it to the most-recent end of an insertion-ordered Map. */
function touch<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
}

export class CorrelatingEventRecorder implements EventRecorder {
  readonly #sink: EventSink;
  readonly #component: string;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #spamBurst: number;
  readonly #spamQps: number;
  readonly #maxSimilar: number;
  readonly #similarWindowMs: number;
  readonly #cacheSize: number;
  readonly #maxPending: number;
  readonly #callTimeoutMs: number;
  readonly #maxAttempts: number;

  readonly #entries = new Map<string, Entry>();
  readonly #similar = new Map<string, Similar>();
  readonly #buckets = new Map<string, TokenBucket>();
  /** Keys of entries with occurrences not yet written. */
  readonly #unsent = new Set<string>();
  readonly #queue: WorkQueue<string>;
  readonly #workers: Promise<void>[];
  readonly #abort = new AbortController();
  #stopping = false;
  #stopped: Promise<void> | undefined;
  #idleWaiters: (() => void)[] = [];
  #nameSeq = 0;
  #lastDropLog = -Infinity;
  #stats = { recorded: 0, creates: 0, patches: 0, deferred: 0, dropped: 0, failedCalls: 0 };

  constructor(opts: EventRecorderOptions) {
    if (opts.component.trim() === '') throw new Error('event recorder: component must not be empty');
    this.#sink = opts.sink;
    this.#component = opts.component;
    this.#instance = opts.instance ?? hostname();
    this.#log = (opts.logger ?? silentLogger()).child({ component: 'event-recorder' });
    this.#clock = opts.clock ?? realClock;
    this.#spamBurst = opts.spamBurst ?? 25;
    this.#spamQps = 1000 / (opts.spamRefillMs ?? 300_000);
    this.#maxSimilar = opts.maxSimilarMessages ?? 10;
    this.#similarWindowMs = opts.similarWindowMs ?? 600_000;
    this.#cacheSize = opts.cacheSize ?? 4096;
    this.#maxPending = opts.maxPending ?? 1000;
    this.#callTimeoutMs = opts.callTimeoutMs ?? 10_000;
    this.#maxAttempts = opts.maxAttempts ?? 4;
    const workers = opts.workers ?? 2;
    if (!Number.isInteger(this.#spamBurst) || this.#spamBurst < 1)
      throw new Error(`event recorder: spamBurst must be a positive integer, got ${this.#spamBurst}`);
    if (!(this.#spamQps > 0) || !Number.isFinite(this.#spamQps))
      throw new Error(`event recorder: spamRefillMs must be a positive duration, got ${opts.spamRefillMs}`);
    if (!Number.isInteger(this.#maxSimilar) || this.#maxSimilar < 1)
      throw new Error(
        `event recorder: maxSimilarMessages must be a positive integer, got ${this.#maxSimilar}`,
      );
    if (!Number.isInteger(this.#maxPending) || this.#maxPending < 1)
      throw new Error(`event recorder: maxPending must be a positive integer, got ${this.#maxPending}`);
    if (!Number.isInteger(this.#cacheSize) || this.#cacheSize < this.#maxPending) {
      throw new Error(
        `event recorder: cacheSize (${this.#cacheSize}) must be an integer at least maxPending (${this.#maxPending})`,
      );
    }
    if (!Number.isInteger(workers) || workers < 1)
      throw new Error(`event recorder: workers must be a positive integer, got ${workers}`);
    if (!(this.#maxAttempts >= 1))
      throw new Error(`event recorder: maxAttempts must be at least 1, got ${this.#maxAttempts}`);
    this.#queue = new WorkQueue<string>({
      clock: this.#clock,
      rateLimiter: new ItemExponentialFailureRateLimiter<string>(
        opts.retryBaseMs ?? 1000,
        opts.retryMaxMs ?? 60_000,
      ),
    });
    this.#workers = Array.from({ length: workers }, () => this.#work());
  }

  event(subject: EventSubject, type: EventType, reason: string, message: string): void {
    try {
      this.#record(subject, type, reason, message);
    } catch (err) {
      this.#stats.dropped++;
      this.#log.error({ err: errorMessage(err), reason }, 'cannot record event');
    }
  }

  stats(): EventRecorderStats {
    return { ...this.#stats };
  }

  /** Events with occurrences not yet written. */
  pending(): number {
    return this.#unsent.size;
  }

  /**
   * Stops accepting events, writes those ready to be written (not those
   * waiting for a spam token or a retry) within timeoutMs, then cancels what
   * is left. Idempotent.
   */
  stop(timeoutMs = 5_000): Promise<void> {
    this.#stopped ??= this.#stop(timeoutMs);
    return this.#stopped;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    const timer = this.#clock.after(timeoutMs, () => this.#abort.abort(new Error('event recorder stopped')));
    await new Promise<void>((resolve) => {
      if (this.#idle() || this.#abort.signal.aborted) return resolve();
      this.#idleWaiters.push(resolve);
      this.#abort.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    timer.cancel();
    this.#abort.abort(new Error('event recorder stopped'));
    this.#queue.shutDown();
    await Promise.all(this.#workers);
    if (this.#unsent.size > 0) {
      let lost = 0;
      for (const key of this.#unsent) {
        const e = this.#entries.get(key);
        if (e !== undefined) lost += e.count - e.sentCount;
      }
      this.#stats.dropped += lost;
      this.#log.warn(
        { events: this.#unsent.size, occurrences: lost },
        'event recorder stopped with events not written',
      );
    }
  }

  #idle(): boolean {
    return this.#queue.len() === 0 && this.#queue.processingCount() === 0;
  }

  #record(subject: EventSubject, type: EventType, reason: string, message: string): void {
    if (this.#stopping) {
      this.#stats.dropped++;
      return;
    }
    const ref = this.#reference(subject);
    if (type !== 'Normal' && type !== 'Warning') throw new Error(`unsupported event type "${String(type)}"`);
    if (reason === '') throw new Error('event reason must not be empty');
    if (message.length > MAX_MESSAGE_LENGTH) message = `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...`;
    const now = this.#clock.now();
    const date = this.#clock.date();

    const objectKey = [
      ref.apiVersion,
      ref.kind,
      ref.namespace ?? '',
      ref.name,
      ref.uid ?? '',
      ref.fieldPath ?? '',
    ].join('\u0000');
    const spamKey = [this.#component, this.#instance, objectKey].join('\u0000');
    const similarKey = [spamKey, type, reason].join('\u0000');

    // 1. Aggregation of similar events (client-go's EventAggregator).
    let similar = this.#similar.get(similarKey);
    if (similar === undefined || now - similar.lastAt > this.#similarWindowMs)
      similar = { messages: new Set(), lastAt: now };
    if (similar.messages.size < this.#maxSimilar) similar.messages.add(message);
    similar.lastAt = now;
    touch(this.#similar, similarKey, similar);
    this.#evict(this.#similar);
    const combined = similar.messages.size >= this.#maxSimilar;
    const key = combined ? similarKey : `${similarKey}\u0000${message}`;
    const text = combined ? `${COMBINED_PREFIX}${message}`.slice(0, MAX_MESSAGE_LENGTH) : message;

    // 2. Correlation with the Event already written for the same key.
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#unsent.size >= this.#maxPending) {
        this.#stats.dropped++;
        if (now - this.#lastDropLog > 60_000) {
          this.#lastDropLog = now;
          this.#log.warn(
            { pending: this.#unsent.size, reason, object: `${ref.kind} ${ref.namespace ?? ''}/${ref.name}` },
            'event queue full; dropping events',
          );
        }
        return;
      }
      entry = {
        key,
        spamKey,
        namespace: ref.namespace !== undefined && ref.namespace !== '' ? ref.namespace : 'default',
        involvedObject: ref,
        type,
        reason,
        message: text,
        count: 0,
        sentCount: 0,
        firstTimestamp: date,
        lastTimestamp: date,
        name: undefined,
        deferredUntil: -Infinity,
        attempts: 0,
      };
    }
    entry.count++;
    entry.message = text;
    entry.lastTimestamp = date;
    touch(this.#entries, key, entry);
    this.#unsent.add(key);
    this.#evictEntries();
    this.#stats.recorded++;
    // 3. Written by a worker; an entry waiting for a spam token or a retry is written when that time comes.
    if (entry.deferredUntil <= now && entry.attempts === 0) this.#queue.add(key);
  }

  #reference(subject: EventSubject): ObjectReference {
    if (isRef(subject)) {
      if (subject.apiVersion === '' || subject.kind === '' || subject.name === '')
        throw new Error('the object reference needs apiVersion, kind and name');
      return subject;
    }
    const meta = subject.metadata;
    const { apiVersion, kind } = subject;
    if (
      apiVersion === undefined ||
      apiVersion === '' ||
      kind === undefined ||
      kind === '' ||
      meta?.name === undefined ||
      meta.name === ''
    ) {
      throw new Error(
        'the object needs apiVersion, kind and metadata.name (objects from lists lack apiVersion and kind: set them or pass a reference)',
      );
    }
    return {
      apiVersion,
      kind,
      name: meta.name,
      ...(meta.namespace !== undefined && meta.namespace !== '' && { namespace: meta.namespace }),
      ...(meta.uid !== undefined && { uid: meta.uid }),
      ...(meta.resourceVersion !== undefined && { resourceVersion: meta.resourceVersion }),
    };
  }

  #evict<V>(map: Map<string, V>): void {
    while (map.size > this.#cacheSize) {
      const oldest = map.keys().next();
      if (oldest.done === true) return;
      map.delete(oldest.value);
    }
  }

  /** Forgets the least recently used Events, never one with occurrences still to write. */
  #evictEntries(): void {
    if (this.#entries.size <= this.#cacheSize) return;
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#cacheSize) return;
      if (this.#unsent.has(key)) continue;
      this.#entries.delete(key);
    }
  }

  #bucket(spamKey: string): TokenBucket {
    let bucket = this.#buckets.get(spamKey);
    if (bucket === undefined) bucket = new TokenBucket(this.#spamQps, this.#spamBurst, this.#clock);
    touch(this.#buckets, spamKey, bucket);
    this.#evict(this.#buckets);
    return bucket;
  }

  async #work(): Promise<void> {
    for (;;) {
      const next = await this.#queue.get();
      if (next.shutdown) return;
      try {
        await this.#write(next.item);
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'event writer failed');
      } finally {
        this.#queue.done(next.item);
        if (this.#idleWaiters.length > 0 && this.#idle())
          for (const resolve of this.#idleWaiters.splice(0)) resolve();
      }
    }
  }

  async #write(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.count <= entry.sentCount) {
      this.#unsent.delete(key);
      return;
    }
    const bucket = this.#bucket(entry.spamKey);
    if (!bucket.tryTake()) {
      const delay = bucket.delayUntilToken();
      entry.deferredUntil = this.#clock.now() + delay;
      this.#stats.deferred++;
      this.#queue.addAfter(key, delay);
      return;
    }
    entry.deferredUntil = -Infinity;
    const count = entry.count;
    const message = entry.message;
    const lastTimestamp = rfc3339(entry.lastTimestamp);
    const ctl = new AbortController();
    const onStop = (): void => ctl.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener('abort', onStop, { once: true });
    const timer = this.#clock.after(this.#callTimeoutMs, () =>
      ctl.abort(new Error(`event write timed out after ${this.#callTimeoutMs} ms`)),
    );
    try {
      if (entry.name !== undefined) {
        try {
          await this.#sink.patch(entry.namespace, entry.name, { count, lastTimestamp, message }, ctl.signal);
          this.#stats.patches++;
        } catch (err) {
          if (apiStatus(err) !== 404) throw err;
          // The Event expired (events have a TTL): write it anew with the full count.
          entry.name = undefined;
        }
      }
      if (entry.name === undefined) {
        const name = this.#eventName(entry.involvedObject.name);
        await this.#sink.create(this.#body(entry, name, count, message, lastTimestamp), ctl.signal);
        entry.name = name;
        this.#stats.creates++;
      }
      entry.sentCount = count;
      entry.attempts = 0;
      this.#queue.forget(key);
      // Occurrences recorded during the call go out in the next one.
      if (entry.count <= entry.sentCount) this.#unsent.delete(key);
      else this.#queue.add(key);
    } catch (err) {
      this.#stats.failedCalls++;
      const status = apiStatus(err);
      const permanent =
        status !== undefined &&
        status >= 400 &&
        status < 500 &&
        status !== 408 &&
        status !== 429 &&
        status !== 409;
      entry.attempts++;
      const object = `${entry.involvedObject.kind} ${entry.namespace}/${entry.involvedObject.name}`;
      if (this.#abort.signal.aborted) return;
      if (permanent || entry.attempts >= this.#maxAttempts) {
        this.#stats.dropped += entry.count - entry.sentCount;
        this.#log.warn(
          { err: errorMessage(err), status, reason: entry.reason, object, attempts: entry.attempts },
          'cannot write event; dropping it',
        );
        entry.sentCount = entry.count;
        entry.attempts = 0;
        this.#queue.forget(key);
        this.#unsent.delete(key);
      } else {
        this.#log.info(
          { err: errorMessage(err), status, reason: entry.reason, object },
          'cannot write event; will retry',
        );
        this.#queue.addRateLimited(key);
      }
    } finally {
      timer.cancel();
      this.#abort.signal.removeEventListener('abort', onStop);
    }
  }

  #body(e: Entry, name: string, count: number, message: string, lastTimestamp: string): EventBody {
    return {
      metadata: { name, namespace: e.namespace },
      involvedObject: e.involvedObject,
      reason: e.reason,
      message,
      type: e.type,
      source: { component: this.#component, host: this.#instance },
      reportingComponent: this.#component,
      reportingInstance: this.#instance,
      firstTimestamp: rfc3339(e.firstTimestamp),
      lastTimestamp,
      count,
    };
  }

  /** client-go's "<object name>.<hex nanoseconds>", unique within the process, at most 253 characters. */
  #eventName(objectName: string): string {
    const nanos = BigInt(this.#clock.date().getTime()) * 1_000_000n + BigInt(this.#nameSeq++ % 1_000_000);
    const suffix = nanos.toString(16);
    const head = objectName.slice(0, 253 - suffix.length - 1).replace(/[.-]+$/, '');
    return `${head}.${suffix}`;
  }
}

/** Records events to the Kubernetes API through the typed client (needs create and patch on events). */
export class KubeEventSink implements EventSink {
  readonly #events: ResourceClient<CoreEvent>;

  constructor(events: ResourceClient<CoreEvent>) {
    this.#events = events;
  }

  async create(e: EventBody, signal: AbortSignal): Promise<void> {
    await this.#events.create(
      { ...e, involvedObject: { ...e.involvedObject }, source: { ...e.source } },
      { signal },
    );
  }

  async patch(namespace: string, name: string, p: EventPatch, signal: AbortSignal): Promise<void> {
    await this.#events.patch(namespace, name, p, { signal });
  }
}

/** A recorder that keeps "Type Reason message" lines, for controller unit tests (client-go's FakeRecorder). */
export class FakeEventRecorder implements EventRecorder {
  readonly events: string[] = [];
  readonly subjects: EventSubject[] = [];

  event(subject: EventSubject, type: EventType, reason: string, message: string): void {
    this.subjects.push(subject);
    this.events.push(`${type} ${reason} ${message}`);
  }
}
