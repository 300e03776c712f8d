/**
 * The event recorder of the controllers, writing core/v1 Events (why core
 * and not events.k8s.io: see CoreEvent in src/k8s/api/core.ts). It keeps
 * what protects the API server and nothing else:
 *
 * - Deduplication with counts: the same (object, type, reason, message)
 *   bumps count and lastTimestamp of the Event already written (a merge
 *   patch) instead of creating another; a patch that finds the Event gone
 *   (Events have a TTL) creates it anew with the running count.
 * - A rate limit per object (client-go's spam filter: a token bucket of
 *   25, one token back every 5 minutes). Occurrences that cannot be sent
 *   yet are counted, not dropped: the next call carries the true count.
 *
 * recorder.event(obj, type, reason, message) is synchronous, O(1), never
 * throws and never waits for the API. One writer sends one call at a time,
 * each with a deadline; a transient failure is retried with backoff a few
 * times, then dropped and logged. Memory is bounded: at most maxPending
 * Events wait to be written (beyond, new ones are dropped and counted) and
 * at most cacheSize are remembered for deduplication.
 */
import { hostname } from 'node:os';
import { exponentialDelayMs } from '../backoff.ts';
import type { CoreEvent } from './api/core.ts';
import { kubeTime } from './api/meta.ts';
import { isTransient, KubeApiError } from './client/errors.ts';
import type { ResourceClient } from './client/typed.ts';
import { silentLogger, type Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { realClock, type Clock, type Timer } from '../clock.ts';
import { TokenBucket } from './ratelimit.ts';

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
  /** Rate limit per object: bucket size (default 25) and time to regain one token (default 300 000 ms). */
  readonly perObjectBurst?: number;
  readonly perObjectRefillMs?: number;
  /** Events remembered for deduplication, and objects for the rate limit (least recently used go first; default 4096). */
  readonly cacheSize?: number;
  /** Events with occurrences not yet written, at most (default 1000); beyond, new Events are dropped. */
  readonly maxPending?: number;
  /** Deadline of each API call (default 10 000 ms). */
  readonly callTimeoutMs?: number;
  /** Attempts for a transient failure before the occurrences are dropped (default 4). */
  readonly maxAttempts?: number;
  /** Backoff between attempts: doubles from base up to max (default 1 s, 60 s). */
  readonly retryBaseMs?: number;
  readonly retryMaxMs?: number;
}

export interface EventRecorderStats {
  /** event() calls accepted. */
  readonly recorded: number;
  readonly creates: number;
  readonly patches: number;
  /** Times an Event waited for a rate-limit token. */
  readonly deferred: number;
  /** Occurrences dropped: queue full, invalid input, permanent errors, retries exhausted, or stop(). */
  readonly dropped: number;
  readonly failedCalls: number;
}

/** Longest message written (client-go's events.k8s.io limit for `note`); longer ones are cut. */
export const MAX_MESSAGE_LENGTH = 1024;

interface Entry {
  readonly key: string;
  readonly objectKey: string;
  readonly namespace: string;
  readonly involvedObject: ObjectReference;
  readonly type: EventType;
  readonly reason: string;
  readonly message: string;
  /** Occurrences recorded, and how many of them the API has. */
  count: number;
  sentCount: number;
  readonly firstTimestamp: Date;
  lastTimestamp: Date;
  /** The Event's name once created. */
  name: string | undefined;
  /** Failed attempts of the current write. */
  attempts: number;
}

function isRef(s: EventSubject): s is ObjectReference {
  return typeof (s as { name?: unknown }).name === 'string';
}

/** Moves a key to the most-recent end of an insertion-ordered Map. */
function touch<K, V>(map: Map<K, V>, key: K, value: V): void {
  map.delete(key);
  map.set(key, value);
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`event recorder: ${name} must be a positive integer, got ${value}`);
  return value;
}

export class CountingEventRecorder implements EventRecorder {
  readonly #sink: EventSink;
  readonly #component: string;
  readonly #instance: string;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #burst: number;
  readonly #tokensPerSecond: number;
  readonly #cacheSize: number;
  readonly #maxPending: number;
  readonly #callTimeoutMs: number;
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  readonly #retryMaxMs: number;

  /** Every remembered Event, least recently recorded first. */
  readonly #entries = new Map<string, Entry>();
  readonly #buckets = new Map<string, TokenBucket>();
  /** Keys of Events with occurrences not yet written: ready, waiting (for a token or a retry) or in flight. */
  readonly #unsent = new Set<string>();
  readonly #ready = new Set<string>();
  readonly #waiting = new Map<string, Timer>();
  readonly #abort = new AbortController();
  readonly #writer: Promise<void>;
  #wake: (() => void) | undefined;
  #stopping = false;
  #stopped: Promise<void> | undefined;
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
    this.#burst = positiveInteger('perObjectBurst', opts.perObjectBurst ?? 25);
    const refillMs = opts.perObjectRefillMs ?? 300_000;
    if (!(refillMs > 0) || !Number.isFinite(refillMs))
      throw new Error(`event recorder: perObjectRefillMs must be a positive duration, got ${refillMs}`);
    this.#tokensPerSecond = 1000 / refillMs;
    this.#maxPending = positiveInteger('maxPending', opts.maxPending ?? 1000);
    this.#cacheSize = opts.cacheSize ?? 4096;
    if (!Number.isInteger(this.#cacheSize) || this.#cacheSize < this.#maxPending) {
      throw new Error(
        `event recorder: cacheSize (${this.#cacheSize}) must be an integer at least maxPending (${this.#maxPending})`,
      );
    }
    this.#callTimeoutMs = opts.callTimeoutMs ?? 10_000;
    this.#maxAttempts = positiveInteger('maxAttempts', opts.maxAttempts ?? 4);
    this.#retryBaseMs = opts.retryBaseMs ?? 1000;
    this.#retryMaxMs = opts.retryMaxMs ?? 60_000;
    this.#writer = this.#run();
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
   * waiting for a token or a retry) within timeoutMs, then cancels what is
   * left. Idempotent.
   */
  stop(timeoutMs = 5_000): Promise<void> {
    this.#stopped ??= this.#stop(timeoutMs);
    return this.#stopped;
  }

  async #stop(timeoutMs: number): Promise<void> {
    this.#stopping = true;
    for (const timer of this.#waiting.values()) timer.cancel();
    this.#waiting.clear();
    const deadline = this.#clock.after(timeoutMs, () =>
      this.#abort.abort(new Error('event recorder stopped')),
    );
    this.#wake?.();
    await this.#writer;
    deadline.cancel();
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

  #record(subject: EventSubject, type: EventType, reason: string, message: string): void {
    if (this.#stopping) {
      this.#stats.dropped++;
      return;
    }
    const ref = this.#reference(subject);
    if (type !== 'Normal' && type !== 'Warning') throw new Error(`unsupported event type "${String(type)}"`);
    if (reason === '') throw new Error('event reason must not be empty');
    if (message.length > MAX_MESSAGE_LENGTH) message = `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...`;
    const date = this.#clock.date();
    const objectKey = [
      ref.apiVersion,
      ref.kind,
      ref.namespace ?? '',
      ref.name,
      ref.uid ?? '',
      ref.fieldPath ?? '',
    ].join('\u0000');
    const key = [objectKey, type, reason, message].join('\u0000');

    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#unsent.size >= this.#maxPending) {
        this.#dropForFullQueue(ref, reason);
        return;
      }
      entry = {
        key,
        objectKey,
        namespace: ref.namespace !== undefined && ref.namespace !== '' ? ref.namespace : 'default',
        involvedObject: ref,
        type,
        reason,
        message,
        count: 0,
        sentCount: 0,
        firstTimestamp: date,
        lastTimestamp: date,
        name: undefined,
        attempts: 0,
      };
    }
    entry.count++;
    entry.lastTimestamp = date;
    touch(this.#entries, key, entry);
    this.#unsent.add(key);
    this.#forgetOldEntries();
    this.#stats.recorded++;
    // One waiting for a token or a retry is written when that time comes, with this occurrence.
    if (!this.#waiting.has(key)) this.#markReady(key);
  }

  #dropForFullQueue(ref: ObjectReference, reason: string): void {
    this.#stats.dropped++;
    const now = this.#clock.now();
    if (now - this.#lastDropLog < 60_000) return;
    this.#lastDropLog = now;
    this.#log.warn(
      { pending: this.#unsent.size, reason, object: `${ref.kind} ${ref.namespace ?? ''}/${ref.name}` },
      'event queue full; dropping events',
    );
  }

  #reference(subject: EventSubject): ObjectReference {
    if (isRef(subject)) {
      if (subject.apiVersion === '' || subject.kind === '' || subject.name === '')
        throw new Error('the object reference needs apiVersion, kind and name');
      return subject;
    }
    const meta = subject.metadata;
    const { apiVersion, kind } = subject;
    if (!apiVersion || !kind || !meta?.name) {
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

  /** Forgets the least recently recorded Events, never one with occurrences still to write. */
  #forgetOldEntries(): void {
    if (this.#entries.size <= this.#cacheSize) return;
    for (const key of this.#entries.keys()) {
      if (this.#entries.size <= this.#cacheSize) return;
      if (!this.#unsent.has(key)) this.#entries.delete(key);
    }
  }

  #bucket(objectKey: string): TokenBucket {
    let bucket = this.#buckets.get(objectKey);
    bucket ??= new TokenBucket(this.#tokensPerSecond, this.#burst, this.#clock);
    touch(this.#buckets, objectKey, bucket);
    if (this.#buckets.size > this.#cacheSize) {
      const oldest = this.#buckets.keys().next();
      if (oldest.done !== true) this.#buckets.delete(oldest.value);
    }
    return bucket;
  }

  #markReady(key: string): void {
    this.#ready.add(key);
    this.#wake?.();
  }

  /** Writes the key again after ms (a token or a backoff), unless stopping. */
  #retryAfter(key: string, ms: number): void {
    if (this.#stopping) return;
    this.#waiting.set(
      key,
      this.#clock.after(ms, () => {
        this.#waiting.delete(key);
        this.#markReady(key);
      }),
    );
  }

  /** The writer: one call at a time, so one Event is never written twice at once. */
  async #run(): Promise<void> {
    while (!this.#abort.signal.aborted) {
      const next = this.#ready.values().next();
      if (next.done === true) {
        if (this.#stopping) return;
        await new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        this.#wake = undefined;
        continue;
      }
      this.#ready.delete(next.value);
      try {
        await this.#write(next.value);
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'event writer failed');
      }
    }
  }

  async #write(key: string): Promise<void> {
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.count <= entry.sentCount) {
      this.#unsent.delete(key);
      return;
    }
    const bucket = this.#bucket(entry.objectKey);
    if (!bucket.tryTake()) {
      this.#stats.deferred++;
      this.#retryAfter(key, bucket.delayUntilToken());
      return;
    }
    const count = entry.count;
    const lastTimestamp = kubeTime(entry.lastTimestamp);
    const call = new AbortController();
    const onStop = (): void => call.abort(this.#abort.signal.reason);
    this.#abort.signal.addEventListener('abort', onStop, { once: true });
    const timer = this.#clock.after(this.#callTimeoutMs, () =>
      call.abort(new Error(`event write timed out after ${this.#callTimeoutMs} ms`)),
    );
    try {
      if (entry.name !== undefined) {
        try {
          await this.#sink.patch(entry.namespace, entry.name, { count, lastTimestamp }, call.signal);
          this.#stats.patches++;
        } catch (err) {
          if (!(err instanceof KubeApiError && err.code === 404)) throw err;
          // The Event expired (events have a TTL): write it anew with the full count.
          entry.name = undefined;
        }
      }
      if (entry.name === undefined) {
        const name = this.#eventName(entry.involvedObject.name);
        await this.#sink.create(this.#body(entry, name, count, lastTimestamp), call.signal);
        entry.name = name;
        this.#stats.creates++;
      }
      entry.sentCount = count;
      entry.attempts = 0;
      // Occurrences recorded during the call go out in the next one.
      if (entry.count > entry.sentCount) this.#markReady(key);
      else this.#unsent.delete(key);
    } catch (err) {
      this.#stats.failedCalls++;
      if (this.#abort.signal.aborted) return;
      entry.attempts++;
      const object = `${entry.involvedObject.kind} ${entry.namespace}/${entry.involvedObject.name}`;
      const fields = { err: errorMessage(err), reason: entry.reason, object, attempts: entry.attempts };
      if (isTransient(err) || !(err instanceof KubeApiError) || err.code === 409 || err.code === 408) {
        if (entry.attempts < this.#maxAttempts) {
          this.#log.info(fields, 'cannot write event; will retry');
          this.#retryAfter(key, exponentialDelayMs(entry.attempts - 1, this.#retryBaseMs, this.#retryMaxMs));
          return;
        }
      }
      this.#log.warn(fields, 'cannot write event; dropping it');
      this.#stats.dropped += entry.count - entry.sentCount;
      entry.sentCount = entry.count;
      entry.attempts = 0;
      this.#unsent.delete(key);
    } finally {
      timer.cancel();
      this.#abort.signal.removeEventListener('abort', onStop);
    }
  }

  #body(e: Entry, name: string, count: number, lastTimestamp: string): EventBody {
    return {
      metadata: { name, namespace: e.namespace },
      involvedObject: e.involvedObject,
      reason: e.reason,
      message: e.message,
      type: e.type,
      source: { component: this.#component, host: this.#instance },
      reportingComponent: this.#component,
      reportingInstance: this.#instance,
      firstTimestamp: kubeTime(e.firstTimestamp),
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
