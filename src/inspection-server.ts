import type { Registry } from 'prom-client';
import type { Logger } from './log.ts';
import { etcdClients } from './engine/clients.ts';
import type { ClientFactory } from './engine/connection.ts';
import { SharedClients } from './engine/shared-clients.ts';
import { Engine } from './engine/engine.ts';
import { SnapshotStore } from './engine/snapshot.ts';
import type { FeatureRegistry } from './features/registry.ts';
import { WHOLE, type Shard } from './engine/shard.ts';
import { InspectionCollector } from './metrics/collector.ts';
import { buildServer, parseListen, type ServerLimits } from './server/app.ts';
import { PressureMetrics } from './server/pressure.ts';
import { ProbeListener } from './server/probe-listener.ts';

export interface InspectionServerOptions {
  readonly logger: Logger;
  readonly registry: FeatureRegistry;
  readonly clients?: ClientFactory;
  /** Put in front of every inspection family name (`kstone_`: kstone's names). */
  readonly metricPrefix?: string;
  readonly maxConcurrentRounds?: number;
  readonly jitter?: boolean;
  /** Bounds on concurrent requests, connections and idle time of the HTTP server. */
  readonly serverLimits?: Partial<ServerLimits>;
  /** This process's part of the clusters, for its own metrics (default: all of them). */
  readonly shard?: Shard;
  /** Registers more of the process's own metrics (the operator's caches). */
  readonly registerOwnMetrics?: (registry: Registry) => void;
}

/**
 * The engine, its snapshot store and the HTTP server wired together: what
 * `run`, `demo` and the inspection controller all serve.
 */
export class InspectionServer {
  readonly store = new SnapshotStore();
  readonly engine: Engine;
  readonly collector: InspectionCollector;
  /** The HTTP app (fastify). */
  readonly #http: ReturnType<typeof buildServer>;
  /** /healthz and /readyz on an address of their own (--probe-listen), started by listenProbes(). */
  readonly #probes: ProbeListener;
  #ready = false;
  #closing = '';

  constructor(opts: InspectionServerOptions) {
    const pressure = new PressureMetrics();
    this.engine = new Engine({
      pressure,
      store: this.store,
      clients: new SharedClients(opts.clients ?? etcdClients),
      logger: opts.logger,
      ...(opts.maxConcurrentRounds !== undefined ? { maxConcurrentRounds: opts.maxConcurrentRounds } : {}),
      jitter: opts.jitter ?? true,
    });
    this.collector = new InspectionCollector({
      store: this.store,
      featureMetrics: opts.registry.names().flatMap((n) => opts.registry.get(n).metrics),
      ...(opts.metricPrefix !== undefined && { metricPrefix: opts.metricPrefix }),
    });
    this.#http = buildServer({
      store: this.store,
      collector: this.collector,
      logger: opts.logger,
      ready: () => this.#ready,
      shard: opts.shard ?? WHOLE,
      registerOwnMetrics: (registry) => {
        pressure.register(registry, () => this.engine.slots());
        opts.registerOwnMetrics?.(registry);
      },
      ...(opts.serverLimits !== undefined && { limits: opts.serverLimits }),
    });
    this.#probes = new ProbeListener(opts.logger);
  }

  setReady(ready: boolean): void {
    this.#ready = ready;
    this.#probes.setReady(ready);
  }

  /**
   * Serves /healthz and /readyz on HOST:PORT too, from a thread of their own
   * (see ProbeListener); returns the bound address. `what` names the flag or
   * field the address came from, for errors.
   */
  listenProbes(listen: string, what?: string): Promise<string> {
    return this.#probes.listen(listen, what);
  }

  /** Listens on HOST:PORT; returns the address actually bound (port 0 picks a free one). */
  async listen(listen: string): Promise<string> {
    const { host, port } = parseListen(listen);
    await this.#http.listen({ host, port });
    const address = this.#http.server.address();
    if (address === null || typeof address === 'string') return listen;
    return address.family === 'IPv6'
      ? `[${address.address}]:${address.port}`
      : `${address.address}:${address.port}`;
  }

  /** The step close() is in, for a shutdown that overruns its grace period. */
  get closing(): string {
    return this.#closing;
  }

  async close(): Promise<void> {
    this.setReady(false);
    try {
      this.#closing = 'closing the HTTP server (requests in flight)';
      await this.#http.close();
      this.#closing = `stopping the inspections of ${this.engine.ids().length} cluster(s) (connections closing)`;
      await this.engine.stop();
    } finally {
      // Last: liveness stays answered while the rest stops.
      this.#closing = 'stopping the probe listener';
      await this.#probes.close();
      this.#closing = '';
    }
  }
}
