import { realClock, type Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { ClientFactory } from './connection.ts';
import { Limiter, type RoundPressure, type SlotStats } from './limiter.ts';
import { ClusterRuntime, type RuntimeDeps } from './runtime.ts';
import type { ClusterSnapshot, SnapshotStore } from './snapshot.ts';
import type { ClusterSpec } from './cluster-spec.ts';

export interface EngineOptions {
  readonly store: SnapshotStore;
  readonly clients: ClientFactory;
  readonly logger: Logger;
  /** Inspection rounds running at once across all clusters (members of one round run in parallel regardless). */
  readonly maxConcurrentRounds?: number;
  readonly jitter?: boolean;
  /** Paces every loop; default real time (tests pass a FakeClock). */
  readonly clock?: Clock;
  /** Told how long each round waited for a slot (the monitor's own metrics). */
  readonly pressure?: RoundPressure;
}

/**
 * The inspection engine: a set of clusters, each with its own runtime.
 * Knows nothing of where cluster descriptions come from. Changes are
 * applied one at a time, so a remove never races an update of the same cluster.
 */
export class Engine {
  readonly #runtimes = new Map<string, ClusterRuntime>();
  readonly #deps: RuntimeDeps;
  #queue: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(opts: EngineOptions) {
    this.#deps = {
      store: opts.store,
      clients: opts.clients,
      logger: opts.logger,
      limiter: new Limiter(opts.maxConcurrentRounds ?? 64),
      jitter: opts.jitter ?? true,
      clock: opts.clock ?? realClock,
      clusters: () => this.#runtimes.size,
      ...(opts.pressure !== undefined && { pressure: opts.pressure }),
    };
  }

  /** Slots of the global limiter: size, in use, rounds waiting. */
  slots(): SlotStats {
    return this.#deps.limiter.stats();
  }

  get store(): SnapshotStore {
    return this.#deps.store;
  }

  ids(): string[] {
    return [...this.#runtimes.keys()];
  }

  /** Adds the cluster, or applies a changed spec to it. */
  upsert(spec: ClusterSpec): Promise<void> {
    return this.#serial(async () => {
      if (this.#stopped) return;
      const runtime = this.#runtimes.get(spec.id);
      if (runtime === undefined) {
        const created = new ClusterRuntime(spec, this.#deps);
        this.#runtimes.set(spec.id, created);
        created.start();
        this.#deps.logger.info({ cluster: spec.id }, 'cluster added');
      } else {
        await runtime.update(spec);
        this.#deps.logger.info({ cluster: spec.id }, 'cluster updated');
      }
    });
  }

  /** Stops everything the cluster held and drops its results. */
  remove(id: string): Promise<void> {
    return this.#serial(async () => {
      const runtime = this.#runtimes.get(id);
      if (runtime === undefined) return;
      this.#runtimes.delete(id);
      await runtime.stop();
      this.#deps.logger.info({ cluster: id }, 'cluster removed');
    });
  }

  /** Makes the set of clusters exactly `specs`. */
  async apply(specs: readonly ClusterSpec[]): Promise<void> {
    const wanted = new Set(specs.map((s) => s.id));
    await Promise.all(
      [...this.#runtimes.keys()].filter((id) => !wanted.has(id)).map((id) => this.remove(id)),
    );
    await Promise.all(specs.map((s) => this.upsert(s)));
  }

  /** One round of everything for a cluster that is not kept running (`inspect`). */
  async inspectOnce(spec: ClusterSpec, signal: AbortSignal): Promise<ClusterSnapshot | undefined> {
    const runtime = new ClusterRuntime(spec, { ...this.#deps, jitter: false });
    return runtime.runOnce(signal);
  }

  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#serial(async () => {
      const all = [...this.#runtimes.values()];
      this.#runtimes.clear();
      await Promise.all(all.map((r) => r.stop()));
    });
  }

  #serial(op: () => Promise<void>): Promise<void> {
    const run = this.#queue.then(op);
    this.#queue = run.catch(() => undefined);
    return run;
  }
}
