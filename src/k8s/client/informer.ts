/**
 * An informer with client-go's reflector semantics, generic over resources:
 *   - list, then watch from the list's resourceVersion, with bookmarks;
 *   - each event (and bookmark) moves the resourceVersion; a watch the server
 *     ends cleanly is resumed from there, so nothing in between is missed;
 *   - 410 Gone / Expired ("too old resource version") → a fresh list, diffed
 *     against the cache: what changed is an update, what disappeared a delete
 *     (final state unknown), what appeared an add;
 *   - other failures → retry with exponential backoff and jitter;
 *   - a watch silent for longer than silentWatchTimeoutMs (no event, no
 *     bookmark; the apiserver sends a bookmark about every minute) is
 *     abandoned and resumed: a half-open connection cannot stall it forever;
 *   - periodic resync re-delivers every cached object kept whole as an update
 *     (with a retention policy, packed objects are not this process's to act on);
 *   - the cache holds deep-frozen objects, read through listers; with a
 *     retention policy, those it does not keep whole are packed (store.ts);
 *   - stop() aborts everything and resolves when nothing is left running.
 * Handlers run synchronously in event order and should only enqueue keys.
 */
import { realClock, sleep, type Clock, type Timer } from '../../clock.ts';
import type { Logger } from '../../log.ts';
import { Backoff, type BackoffOptions } from '../../backoff.ts';
import { isExpired } from './errors.ts';
import { keyOf, resourceName, type KubeObjectLike } from './resource.ts';
import { parseLabelSelector } from './selector.ts';
import {
  deepFreeze,
  Store,
  type DeepReadonly,
  type IndexFunc,
  type Lister,
  type Retention,
  type RetentionStats,
} from './store.ts';
import type { ListResult, ResourceClient, WatchEvent } from './typed.ts';
import { errorMessage } from '../../errors.ts';

/** Where an informer gets its objects; the typed client in production, a fake in unit tests. */
export interface ListerWatcher<T> {
  list(opts: { signal: AbortSignal }): Promise<ListResult<T>>;
  watch(opts: {
    resourceVersion: string;
    signal: AbortSignal;
    timeoutSeconds: number;
    connectTimeoutMs: number;
  }): Promise<AsyncIterable<WatchEvent<T>>>;
}

export interface InformerScope {
  /** Watch one namespace; default all. */
  readonly namespace?: string;
  /** Server-side label selector (checked here first: a bad one throws LabelSelectorError). */
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

/** The typed client as a ListerWatcher (watches always ask for bookmarks). */
export function listerWatcher<T extends KubeObjectLike>(
  client: ResourceClient<T>,
  scope: InformerScope = {},
): ListerWatcher<T> {
  if (scope.labelSelector !== undefined) parseLabelSelector(scope.labelSelector);
  const selectors = { labelSelector: scope.labelSelector, fieldSelector: scope.fieldSelector };
  return {
    list: ({ signal }) => client.list(scope.namespace, { ...selectors, signal }),
    watch: ({ resourceVersion, signal, timeoutSeconds, connectTimeoutMs }) =>
      client.watch(scope.namespace, {
        ...selectors,
        resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
        signal,
        connectTimeoutMs,
      }),
  };
}

export interface EventHandler<T> {
  /** isInInitialList: delivered for the first list (or to a handler added later, for what is cached). */
  onAdd?(obj: DeepReadonly<T>, isInInitialList: boolean): void;
  /** Also called by resync with oldObj === newObj. */
  onUpdate?(oldObj: DeepReadonly<T>, newObj: DeepReadonly<T>): void;
  /** finalStateUnknown: the object vanished between two lists; obj is its last known state. */
  onDelete?(obj: DeepReadonly<T>, info: { readonly finalStateUnknown: boolean }): void;
}

export type InformerLogger = Pick<Logger, 'debug' | 'info' | 'warn'>;

export interface InformerOptions<T> {
  /** For logs, e.g. etcdclusters.etcdmonitor.dev. */
  readonly name?: string;
  /** Re-deliver every cached object as an update this often; 0 or absent: never. */
  readonly resyncPeriodMs?: number;
  /** Restart a watch that saw nothing for this long; default 150 s (bookmarks come about every 60 s); 0: never. */
  readonly silentWatchTimeoutMs?: number;
  /** Server-side watch timeout, asked anew for each watch; default random in [300, 600) s like client-go. */
  readonly watchTimeoutSeconds?: () => number;
  /** How long the server may take to accept a watch; default 30 s. */
  readonly connectTimeoutMs?: number;
  readonly backoff?: BackoffOptions;
  readonly indexers?: Readonly<Record<string, IndexFunc<T>>>;
  /** Which objects are kept whole; the others are kept packed (store.ts). Default: all whole. */
  readonly retention?: Retention<T>;
  readonly logger?: InformerLogger;
  /** Paces backoff, silent-watch detection and resync; default real time (tests pass a FakeClock). */
  readonly clock?: Clock;
}

export interface InformerStats {
  /** Successful lists (the first included). */
  readonly lists: number;
  /** Lists caused by 410 Gone / Expired. */
  readonly relists: number;
  /** Watches the server accepted. */
  readonly watches: number;
  /** Watches abandoned for silence. */
  readonly silentRestarts: number;
  /** Failed lists and watches (each followed by a backoff). */
  readonly errors: number;
  /** Objects that did not match their schema (left out of the cache). */
  readonly invalidObjects: number;
  /** Events and bookmarks received. */
  readonly events: number;
  readonly bookmarks: number;
  readonly resyncs: number;
  readonly lastError: string | undefined;
}

/** Thrown into a watch that stayed silent too long. */
export class SilentWatchError extends Error {
  override name = 'SilentWatchError';
}

const QUICK_CLOSE_MS = 1_000;

function randomWatchTimeout(): number {
  return Math.floor(300 + Math.random() * 300);
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class Informer<T extends KubeObjectLike> {
  readonly name: string;
  readonly #lw: ListerWatcher<T>;
  readonly #store: Store<T>;
  readonly #handlers = new Set<EventHandler<T>>();
  readonly #backoff: Backoff;
  readonly #opts: InformerOptions<T>;
  readonly #abort = new AbortController();
  readonly #stats: Mutable<InformerStats> = {
    lists: 0,
    relists: 0,
    watches: 0,
    silentRestarts: 0,
    errors: 0,
    invalidObjects: 0,
    events: 0,
    bookmarks: 0,
    resyncs: 0,
    lastError: undefined,
  };
  #resourceVersion = '';
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #running: Promise<void> | undefined;
  #resyncTimer: Timer | undefined;
  readonly #clock: Clock;

  constructor(lw: ListerWatcher<T>, opts: InformerOptions<T> = {}) {
    this.#lw = lw;
    this.#opts = opts;
    this.name = opts.name ?? 'informer';
    this.#store = new Store(opts.indexers ?? {}, opts.retention);
    this.#backoff = new Backoff(opts.backoff);
    this.#clock = opts.clock ?? realClock;
  }

  /** The cache, read-only. */
  get lister(): Lister<T> {
    return this.#store;
  }

  /** The resourceVersion the informer has seen up to. */
  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  stats(): InformerStats {
    return { ...this.#stats };
  }

  /** How many objects the cache keeps whole and packed. */
  retentionStats(): RetentionStats {
    return this.#store.retentionStats();
  }

  /** Applies the retention policy's current answers to the cache (after a shard moved). */
  retain(): { packed: number; unpacked: number } {
    return this.#store.retain();
  }

  /** The retention tag of a cached object, without parsing it (undefined without a policy or object). */
  tagOf(key: string): string | undefined {
    return this.#store.tagOf(key);
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves true once the first list is in the cache; false if the informer stops (or signal aborts) first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.#synced) return Promise.resolve(true);
    if (this.#abort.signal.aborted || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (value: boolean): void => {
        signal?.removeEventListener('abort', onAbort);
        this.#abort.signal.removeEventListener('abort', onAbort);
        resolve(value);
      };
      const onAbort = (): void => done(false);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#abort.signal.addEventListener('abort', onAbort, { once: true });
      this.#syncWaiters.push(() => done(true));
    });
  }

  /** Adds a handler; after the first list it is first told of every cached object. Returns a remover. */
  addEventHandler(handler: EventHandler<T>): () => void {
    this.#handlers.add(handler);
    if (this.#synced) {
      for (const obj of this.#store.list()) this.#call('onAdd', () => handler.onAdd?.(obj, true));
    }
    return () => this.#handlers.delete(handler);
  }

  /** Starts listing and watching (once). */
  start(): void {
    if (this.#abort.signal.aborted) throw new Error(`${this.name}: informer already stopped`);
    if (this.#running !== undefined) return;
    const resync = this.#opts.resyncPeriodMs ?? 0;
    if (resync > 0) {
      const every = (): void => {
        this.#resyncTimer = this.#clock.after(resync, () => {
          this.#resync();
          every();
        });
      };
      every();
    }
    this.#running = this.#run();
  }

  /** Stops everything (watch, backoff sleeps, resync); resolves when the loop has ended. Idempotent. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#resyncTimer?.cancel();
    this.#resyncTimer = undefined;
    await this.#running;
  }

  #log(level: 'debug' | 'info' | 'warn', fields: Record<string, unknown>, msg: string): void {
    this.#opts.logger?.[level]({ informer: this.name, ...fields }, msg);
  }

  #call(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      // One broken handler must not stop the informer or the other handlers.
      this.#log('warn', { err: errorMessage(err), handler: what }, 'event handler threw');
    }
  }

  #emitAdd(obj: DeepReadonly<T>, initial: boolean): void {
    for (const h of this.#handlers) this.#call('onAdd', () => h.onAdd?.(obj, initial));
  }

  #emitUpdate(oldObj: DeepReadonly<T>, newObj: DeepReadonly<T>): void {
    for (const h of this.#handlers) this.#call('onUpdate', () => h.onUpdate?.(oldObj, newObj));
  }

  #emitDelete(obj: DeepReadonly<T>, finalStateUnknown: boolean): void {
    for (const h of this.#handlers) this.#call('onDelete', () => h.onDelete?.(obj, { finalStateUnknown }));
  }

  #resync(): void {
    if (!this.#synced || this.#abort.signal.aborted) return;
    this.#stats.resyncs++;
    for (const obj of this.#store.listWhole()) this.#emitUpdate(obj, obj);
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal;
    let needList = true;
    // A 410 right after a list would relist in a loop without a pause.
    let expiredWithoutProgress = 0;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.#list(signal);
          needList = false;
        }
        const progressed = await this.#watch(signal);
        if (progressed) {
          expiredWithoutProgress = 0;
          this.#backoff.reset();
        } else {
          // Closed at once with nothing in it: not healthy, pause before the next.
          await this.#pause(signal);
        }
      } catch (err) {
        if (signal.aborted) break;
        if (isExpired(err)) {
          needList = true;
          this.#stats.relists++;
          this.#log(
            'info',
            { resourceVersion: this.#resourceVersion, err: errorMessage(err) },
            'resource version expired, listing again',
          );
          if (expiredWithoutProgress++ > 0) await this.#pause(signal);
          continue;
        }
        this.#stats.errors++;
        this.#stats.lastError = errorMessage(err);
        if (err instanceof SilentWatchError) this.#stats.silentRestarts++;
        this.#log(
          err instanceof SilentWatchError ? 'info' : 'warn',
          { err: errorMessage(err), resourceVersion: this.#resourceVersion, needList },
          needList ? 'list failed' : 'watch failed',
        );
        await this.#pause(signal);
      }
    }
    // Waiters were told (false) by the abort.
    this.#syncWaiters = [];
  }

  async #pause(signal: AbortSignal): Promise<void> {
    await sleep(this.#clock, this.#backoff.next(), signal).catch(() => undefined);
  }

  async #list(signal: AbortSignal): Promise<void> {
    const result = await this.#lw.list({ signal });
    if (signal.aborted) return;
    this.#stats.lists++;
    for (const r of result.rejected) {
      this.#stats.invalidObjects++;
      this.#log(
        'warn',
        { object: r.key, problems: r.problems.map((p) => `${p.field}: ${p.message}`) },
        'object does not match its schema; left out of the cache',
      );
    }
    this.#replace(result.items);
    this.#resourceVersion = result.resourceVersion;
    if (!this.#synced) {
      this.#synced = true;
      for (const waiter of this.#syncWaiters.splice(0)) waiter();
    }
  }

  /** The cache becomes exactly `items`; the differences become events. */
  #replace(items: readonly T[]): void {
    const initial = !this.#synced;
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      // Compared without parsing a packed object.
      if (this.#store.has(key) && this.#store.resourceVersionOf(key) === item.metadata.resourceVersion)
        continue;
      const { previous, current } = this.#store.put(item);
      if (previous === undefined) this.#emitAdd(current, initial);
      else this.#emitUpdate(previous, current);
    }
    for (const key of this.#store.keys()) {
      if (seen.has(key)) continue;
      const gone = this.#store.delete(key);
      if (gone !== undefined) this.#emitDelete(gone, true);
    }
  }

  /**
   * One watch from the current resourceVersion until the server ends it.
   * Resolves whether it made progress (an event, or it lasted); throws on
   * errors, ERROR events and silence.
   */
  async #watch(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    const ctrl = new AbortController();
    const onAbort = (): void => ctrl.abort(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    const silenceMs = this.#opts.silentWatchTimeoutMs ?? 150_000;
    let watchdog: Timer | undefined;
    const kick = (): void => {
      if (silenceMs <= 0) return;
      watchdog?.cancel();
      watchdog = this.#clock.after(silenceMs, () =>
        ctrl.abort(
          new SilentWatchError(`${this.name}: watch silent for ${silenceMs} ms (no event, no bookmark)`),
        ),
      );
    };
    const started = this.#clock.now();
    let received = 0;
    try {
      const events = await this.#lw.watch({
        resourceVersion: this.#resourceVersion,
        signal: ctrl.signal,
        timeoutSeconds: (this.#opts.watchTimeoutSeconds ?? randomWatchTimeout)(),
        connectTimeoutMs: this.#opts.connectTimeoutMs ?? 30_000,
      });
      this.#stats.watches++;
      kick();
      for await (const event of events) {
        if (signal.aborted) break;
        kick();
        // The server is answering: the next failure starts from the initial delay.
        if (received++ === 0) this.#backoff.reset();
        this.#handle(event);
      }
      return received > 0 || this.#clock.now() - started >= QUICK_CLOSE_MS;
    } catch (err) {
      // The transport rethrows the abort reason: silence, or stop().
      if (ctrl.signal.aborted && ctrl.signal.reason instanceof SilentWatchError) throw ctrl.signal.reason;
      throw err;
    } finally {
      watchdog?.cancel();
      signal.removeEventListener('abort', onAbort);
      if (!ctrl.signal.aborted) ctrl.abort();
    }
  }

  #handle(event: WatchEvent<T>): void {
    switch (event.type) {
      case 'BOOKMARK':
        this.#stats.bookmarks++;
        this.#resourceVersion = event.resourceVersion;
        return;
      case 'ERROR':
        throw event.error;
      case 'INVALID':
        this.#stats.events++;
        this.#stats.invalidObjects++;
        this.#log(
          'warn',
          { object: event.key, problems: event.problems.map((p) => `${p.field}: ${p.message}`) },
          'object does not match its schema; event ignored',
        );
        if (event.resourceVersion !== undefined) this.#resourceVersion = event.resourceVersion;
        return;
      case 'ADDED':
      case 'MODIFIED': {
        this.#stats.events++;
        const { previous, current } = this.#store.put(event.object);
        if (previous === undefined) this.#emitAdd(current, false);
        else this.#emitUpdate(previous, current);
        break;
      }
      case 'DELETED': {
        this.#stats.events++;
        const known = this.#store.delete(keyOf(event.object));
        // The event carries the final state; unknown objects were never announced.
        if (known !== undefined) this.#emitDelete(deepFreeze(event.object), false);
        break;
      }
    }
    const rv = event.object.metadata.resourceVersion;
    if (rv !== undefined && rv !== '') this.#resourceVersion = rv;
  }
}

/** An informer on a typed client: `createInformer(clients.etcdClusters, { namespace }, { resyncPeriodMs })`. */
export function createInformer<T extends KubeObjectLike>(
  client: ResourceClient<T>,
  scope: InformerScope = {},
  opts: InformerOptions<T> = {},
): Informer<T> {
  return new Informer(listerWatcher(client, scope), { name: resourceName(client.resource), ...opts });
}
