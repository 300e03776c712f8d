/**
 * The controller loop of kubernetes/sample-controller: informer handlers only
 * enqueue keys ("namespace/name"); N workers take keys from a rate-limited
 * work queue (one key is never synced twice at once) and call an idempotent
 * sync(key). A sync that throws is retried with per-key exponential backoff
 * (5 ms … 1000 s, under an overall token bucket); one that returns is
 * forgotten (its backoff reset). Problems a retry cannot fix (an invalid
 * spec) are the sync's to report — condition, Event — and return from: no
 * hot loop. Stopping aborts the signal every sync gets, so API calls in
 * flight are cancelled, and resolves once the workers are idle.
 */
import type { Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { isConflict } from '../k8s/client/index.ts';
import { WorkQueue } from '../k8s/workqueue.ts';

/** Optionally asks for the key to be synced again after a delay (e.g. a refresh that is due later). */
export interface SyncResult {
  readonly requeueAfterMs?: number;
}

export type SyncFn = (key: string, signal: AbortSignal) => Promise<SyncResult | void>;

export interface ControllerOptions {
  /** For logs, e.g. etcdcluster. */
  readonly name: string;
  readonly workers: number;
  readonly sync: SyncFn;
  readonly logger: Logger;
  /** Default: a WorkQueue with client-go's default controller rate limiter. */
  readonly queue?: WorkQueue<string>;
}

export interface ControllerStats {
  readonly syncs: number;
  readonly failures: number;
}

export class Controller {
  readonly name: string;
  readonly #queue: WorkQueue<string>;
  readonly #sync: SyncFn;
  readonly #workers: number;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  /** Removers of the handlers and subscriptions that feed the queue. */
  readonly #feeds: (() => void)[] = [];
  #running: Promise<void> | undefined;
  #syncs = 0;
  #failures = 0;

  constructor(opts: ControllerOptions) {
    if (!Number.isInteger(opts.workers) || opts.workers < 1)
      throw new Error(`controller ${opts.name}: workers must be a positive integer, got ${opts.workers}`);
    this.name = opts.name;
    this.#queue = opts.queue ?? new WorkQueue<string>();
    this.#sync = opts.sync;
    this.#workers = opts.workers;
    this.#log = opts.logger.child({ controller: opts.name });
  }

  /** Queues a key; a key already waiting is queued once. Safe to call before start() and after stop() (ignored). */
  enqueue(key: string): void {
    this.#queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.#queue.addAfter(key, ms);
  }

  /** Keys waiting to be synced (not counting those being synced or delayed). */
  pending(): number {
    return this.#queue.len();
  }

  stats(): ControllerStats {
    return { syncs: this.#syncs, failures: this.#failures };
  }

  /**
   * Takes the removers of the informer handlers and store subscriptions that
   * enqueue keys: stop() removes them before it stops the workers.
   */
  fedBy(...removers: (() => void)[]): void {
    this.#feeds.push(...removers);
  }

  /** Starts the workers (once). */
  start(): void {
    if (this.#running !== undefined) return;
    if (this.#abort.signal.aborted) throw new Error(`controller ${this.name} has been stopped`);
    this.#running = Promise.all(Array.from({ length: this.#workers }, () => this.#work())).then(
      () => undefined,
    );
  }

  /**
   * Removes the feeds, stops taking keys, aborts the syncs in flight and
   * waits for them to return. Keys still queued are dropped (the next leader resyncs them). Idempotent.
   */
  async stop(): Promise<void> {
    for (const remove of this.#feeds.splice(0)) remove();
    this.#abort.abort(new Error(`controller ${this.name} stopped`));
    await this.#queue.shutDownWithDrain();
    await this.#running;
  }

  async #work(): Promise<void> {
    const signal = this.#abort.signal;
    for (;;) {
      const next = await this.#queue.get();
      if (next.shutdown) return;
      const key = next.item;
      try {
        this.#syncs++;
        const result = await this.#sync(key, signal);
        this.#queue.forget(key);
        if (result?.requeueAfterMs !== undefined) this.#queue.addAfter(key, result.requeueAfterMs);
      } catch (err) {
        this.#failures++;
        if (signal.aborted) {
          this.#log.debug({ object: key, err: errorMessage(err) }, 'sync cancelled by stop');
        } else {
          const retries = this.#queue.numRequeues(key);
          // A conflict means our cache was behind our own last write: routine, retried in milliseconds.
          const level = isConflict(err) ? 'debug' : retries >= 5 ? 'warn' : 'info';
          this.#log[level](
            { object: key, err: errorMessage(err), retries },
            'sync failed; retrying with backoff',
          );
          this.#queue.addRateLimited(key);
        }
      } finally {
        this.#queue.done(key);
      }
    }
  }
}
