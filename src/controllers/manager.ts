/**
 * One operator process: the HTTP server (/metrics, /healthz, /readyz,
 * /api/v1), leader election, and — only while leading — the informers, the
 * controllers and their engines.
 *
 * Standby: /healthz 200, /readyz 503, /metrics with process metrics only;
 * nothing is read from or written to the API except the Lease.
 * Leading: informers list and watch, controllers sync, the inspection engine
 * runs and /metrics carries its series; /readyz 200 once the caches synced.
 * Losing the lease: everything stops at once (syncs in flight cancelled,
 * engines stopped so their series leave /metrics, /readyz 503), then run()
 * resolves 'lost'. The CLI exits non-zero on that, as client-go controllers
 * do: the pod restarts clean and campaigns again as a standby. Nothing of a
 * leader's state survives into the next term.
 *
 * Sharded (--sharding): no election; every replica acts from the start on
 * the clusters its shard owns (src/k8s/shard-membership.ts), and leaves the
 * group only after its engines stopped.
 *
 * Both controllers may run in one process (`operator`): they share the
 * informers, the Kubernetes connections and the etcd clients, but keep one
 * engine each: the EtcdCluster controller's reads membership only and is
 * never exported; the EtcdInspection controller's is the one /metrics shows.
 */
import { InspectionServer } from '../inspection-server.ts';
import { etcdClients } from '../engine/clients.ts';
import type { ClientFactory } from '../engine/connection.ts';
import { Engine } from '../engine/engine.ts';
import { SharedClients } from '../engine/shared-clients.ts';
import { SnapshotStore } from '../engine/snapshot.ts';
import type { FeatureRegistry } from '../features/registry.ts';
import { createClients, type Clients, type RestConfig } from '../k8s/client/index.ts';
import { CountingEventRecorder, KubeEventSink } from '../k8s/events.ts';
import { defaultIdentity, KubeLeaseLock, LeaderElector } from '../k8s/leaderelection.ts';
import { ShardMembership } from '../k8s/shard-membership.ts';
import type { Shard, ShardInfo } from '../engine/shard.ts';
import type { Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import type { ProviderRegistry } from '../providers/index.ts';
import { VERSION } from '../version.ts';
import { EtcdClusterController } from './etcdcluster/controller.ts';
import { EtcdInspectionController } from './etcdinspection/controller.ts';
import { registerCacheMetrics, SharedInformers } from './informers.ts';
import type { ClientTimeouts } from './spec.ts';

export type ControllerName = 'etcdcluster' | 'inspection';

export interface LeaderElectionSettings {
  readonly leaseName: string;
  readonly leaseNamespace: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly identity?: string;
}

/** Replicas sharing the EtcdClusters through one Lease each (src/k8s/shard-membership.ts). */
export interface ShardingSettings {
  /** The group's name: label value and prefix of the members' Leases. */
  readonly group: string;
  readonly namespace: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface ManagerOptions {
  readonly kubeConfig: RestConfig;
  readonly controllers: readonly ControllerName[];
  readonly features: FeatureRegistry;
  readonly providers: ProviderRegistry;
  readonly logger: Logger;
  readonly workers: number;
  /** undefined: no election, this process leads from the start. */
  readonly leaderElection?: LeaderElectionSettings;
  /** Every replica acts on its share of the clusters (no leader election then). */
  readonly sharding?: ShardingSettings;
  readonly labelSelector?: string;
  /** Watch Secrets only in these namespaces (default: all). */
  readonly secretNamespaces?: readonly string[];
  readonly resyncPeriodMs?: number;
  /** Spread first inspection rounds over their interval (default true; tests turn it off). */
  readonly jitter?: boolean;
  readonly timeouts?: ClientTimeouts;
  /** etcd clients (tests may pass fakes); default the real access layer. */
  readonly etcdClients?: ClientFactory;
  readonly statusRefreshMs?: number;
  /** Put in front of every inspection metric name (`kstone_`: kstone's names). */
  readonly metricPrefix?: string;
}

/** stopped: by stop(); lost: the lease was lost; failed: the controllers could not run (without leader election). */
export type ManagerExit = 'stopped' | 'lost' | 'failed';

const DEFAULT_RESYNC_MS = 10 * 60_000;

/** What one term of leadership runs; torn down in reverse order. */
interface Term {
  readonly clients: Clients;
  readonly informers: SharedInformers;
  readonly recorders: CountingEventRecorder[];
  readonly membership: Engine | undefined;
  readonly etcdclusters: EtcdClusterController | undefined;
  readonly inspections: EtcdInspectionController | undefined;
}

export class Manager {
  /** The HTTP server and the engine whose results /metrics shows (the inspection controller's). */
  readonly server: InspectionServer;
  readonly identity: string;
  readonly #options: ManagerOptions;
  readonly #log: Logger;
  readonly #etcd: SharedClients;
  readonly #abort = new AbortController();
  #term: Term | undefined;
  #leading = false;
  #membership: ShardMembership | undefined;
  #running: Promise<ManagerExit> | undefined;

  constructor(opts: ManagerOptions) {
    if (opts.controllers.length === 0) throw new Error('no controller to run');
    if (opts.sharding !== undefined && opts.leaderElection !== undefined)
      throw new Error('sharding and leader election exclude each other: every shard member acts');
    this.#options = opts;
    this.identity = opts.leaderElection?.identity ?? defaultIdentity();
    this.#log = opts.logger.child({ identity: this.identity });
    // One client per etcd member for the whole process, shared by both engines.
    this.#etcd = new SharedClients(opts.etcdClients ?? etcdClients);
    this.server = new InspectionServer({
      logger: opts.logger,
      registry: opts.features,
      clients: this.#etcd,
      ...(opts.metricPrefix !== undefined && { metricPrefix: opts.metricPrefix }),
      jitter: opts.jitter ?? true,
      shard: { owns: (key) => this.#shard().owns(key), describe: () => this.#shard().describe() },
      registerOwnMetrics: (registry) => registerCacheMetrics(registry, () => this.#term?.informers),
    });
  }

  /** The clusters this process acts for: its shard while sharding, else all. */
  #shard(): Shard {
    return (
      this.#membership ?? {
        owns: () => true,
        describe: (): ShardInfo => ({ member: this.identity, members: 1 }),
      }
    );
  }

  /** This replica's shard membership (sharding only; tests look at it). */
  get sharding(): ShardMembership | undefined {
    return this.#membership;
  }

  /** Whether this process currently leads (and so acts). */
  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Serves HTTP on HOST:PORT (port 0: any), and the probes on `probeAddr` if
   * given (--probe-listen), and starts campaigning; returns the bound address.
   */
  async start(metricsAddr: string, probeAddr?: string): Promise<string> {
    if (this.#running !== undefined) throw new Error('manager already started');
    // Probes first: once /metrics answers, the probe listener answers too.
    const probeAddress = probeAddr === undefined ? undefined : await this.server.listenProbes(probeAddr);
    const address = await this.server.listen(metricsAddr);
    this.#log.info(
      {
        address,
        ...(probeAddress !== undefined && { probeAddress }),
        controllers: this.#options.controllers,
        leaderElection: this.#options.leaderElection !== undefined,
      },
      'etcd-monitor operator serving',
    );
    this.#running = this.#run();
    return address;
  }

  /** Resolves when this process stops acting for good: after stop(), a lost lease, or a failure. */
  done(): Promise<ManagerExit> {
    if (this.#running === undefined) throw new Error('manager not started');
    return this.#running;
  }

  /** Graceful stop: controllers drained, engines stopped, lease released, server closed. Idempotent. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error('shutting down'));
    await this.#running;
    await this.server.close();
  }

  async #run(): Promise<ManagerExit> {
    const election = this.#options.leaderElection;
    if (this.#options.sharding !== undefined) return this.#runSharded(this.#options.sharding);
    if (election === undefined) {
      try {
        await this.#lead(this.#abort.signal);
        return 'stopped';
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'controllers failed');
        return 'failed';
      }
    }
    let led = false;
    // The Lease has connections of its own for the whole process: renewals
    // never queue behind a term's lists and watches, and outlive its teardown.
    const kube = createClients(this.#options.kubeConfig, {
      userAgent: `etcd-monitor/${VERSION} (leader-election)`,
    });
    const elector = new LeaderElector({
      lock: new KubeLeaseLock(kube.leases, election.leaseNamespace, election.leaseName),
      identity: this.identity,
      leaseDurationMs: election.leaseDurationMs,
      renewDeadlineMs: election.renewDeadlineMs,
      retryPeriodMs: election.retryPeriodMs,
      releaseOnCancel: true,
      logger: this.#options.logger,
      onStartedLeading: (signal) => {
        led = true;
        return this.#lead(signal);
      },
      // At the moment of the loss, before the teardown: stop looking ready.
      onStoppedLeading: () => {
        this.#leading = false;
        this.server.setReady(false);
      },
    });
    try {
      await elector.run(this.#abort.signal);
    } finally {
      await kube.close();
    }
    return led && !this.#abort.signal.aborted ? 'lost' : 'stopped';
  }

  /**
   * Sharded: act from the start, on the clusters our shard owns. The
   * membership has connections of its own (renewals never queue behind
   * lists and watches) and is left only after the engines stopped, so that
   * the others take our clusters over once we no longer inspect them.
   */
  async #runSharded(sharding: ShardingSettings): Promise<ManagerExit> {
    const kube = createClients(this.#options.kubeConfig, {
      userAgent: `etcd-monitor/${VERSION} (sharding)`,
    });
    const membership = new ShardMembership({
      leases: kube.leases,
      namespace: sharding.namespace,
      group: sharding.group,
      identity: this.identity,
      leaseDurationMs: sharding.leaseDurationMs,
      renewDeadlineMs: sharding.renewDeadlineMs,
      retryPeriodMs: sharding.retryPeriodMs,
      logger: this.#options.logger,
      release: async () => {
        await Promise.all([
          this.#term?.etcdclusters?.releaseUnowned(),
          this.#term?.inspections?.releaseUnowned(),
        ]);
      },
      changed: () => {
        // The caches first: what moved here is parsed back from the stored text, what left is packed.
        this.#term?.informers.retain();
        this.#term?.etcdclusters?.ownershipChanged();
        this.#term?.inspections?.ownershipChanged();
      },
    });
    this.#membership = membership;
    try {
      await this.#lead(this.#abort.signal, () => membership.start());
      return 'stopped';
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'controllers failed');
      return 'failed';
    } finally {
      await membership.stop();
      await kube.close();
    }
  }

  /** One term: build, sync caches, run until the signal aborts, tear down. */
  async #lead(signal: AbortSignal, onRunning?: () => void): Promise<void> {
    const o = this.#options;
    const log = this.#log;
    const clients = createClients(o.kubeConfig, {
      userAgent: `etcd-monitor/${VERSION} (${o.controllers.join('+')})`,
    });
    const informers = new SharedInformers(clients, {
      ...(o.labelSelector !== undefined && { labelSelector: o.labelSelector }),
      ...(o.secretNamespaces !== undefined && { secretNamespaces: o.secretNamespaces }),
      resyncPeriodMs: o.resyncPeriodMs ?? DEFAULT_RESYNC_MS,
      logger: o.logger,
      ...(this.#membership !== undefined && { shard: this.#membership }),
    });
    const recorder = (component: string) =>
      new CountingEventRecorder({
        sink: new KubeEventSink(clients.events),
        component,
        instance: this.identity,
        logger: o.logger,
      });
    const recorders: CountingEventRecorder[] = [];
    const common = {
      informers,
      features: o.features,
      providers: o.providers,
      logger: o.logger,
      workers: o.workers,
      ...(o.timeouts !== undefined && { timeouts: o.timeouts }),
      ...(this.#membership !== undefined && { shard: this.#membership }),
    };

    let membership: Engine | undefined;
    let etcdclusters: EtcdClusterController | undefined;
    if (o.controllers.includes('etcdcluster')) {
      const store = new SnapshotStore();
      // Its log lines say which engine (both log the same clusters).
      membership = new Engine({
        store,
        clients: this.#etcd,
        logger: o.logger.child({ engine: 'membership' }),
      });
      const r = recorder('etcdcluster-controller');
      recorders.push(r);
      etcdclusters = new EtcdClusterController({
        ...common,
        clients,
        engine: membership,
        store,
        recorder: r,
        ...(o.statusRefreshMs !== undefined && { statusRefreshMs: o.statusRefreshMs }),
      });
    }
    let inspections: EtcdInspectionController | undefined;
    if (o.controllers.includes('inspection')) {
      const r = recorder('etcdinspection-controller');
      recorders.push(r);
      inspections = new EtcdInspectionController({
        ...common,
        clients,
        engine: this.server.engine,
        store: this.server.store,
        recorder: r,
        ...(o.labelSelector !== undefined && { labelSelector: o.labelSelector }),
        ...(o.statusRefreshMs !== undefined && { resultRefreshMs: o.statusRefreshMs }),
      });
    }
    this.#term = { clients, informers, recorders, membership, etcdclusters, inspections };

    try {
      log.info('leading: starting informers');
      informers.start();
      if (await informers.waitForSync(signal)) {
        etcdclusters?.start();
        inspections?.start();
        // What is ours now (all, or our shard) goes to the engines at once, from the caches; the syncs write.
        etcdclusters?.ownershipChanged();
        inspections?.ownershipChanged();
        onRunning?.();
        this.#leading = true;
        this.server.setReady(true);
        log.info('caches synced: controllers running');
      }
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
    } finally {
      this.#leading = false;
      this.server.setReady(false);
      log.info({ reason: errorMessage(signal.reason) }, 'stopping controllers');
      await Promise.all([etcdclusters?.stop(), inspections?.stop()]);
      await informers.stop();
      // Stopping the engines drops every cluster from their stores: the series leave /metrics now.
      await Promise.all([membership?.stop(), this.server.engine.stop()]);
      await Promise.all(recorders.map((r) => r.stop(2_000)));
      await clients.close();
      this.#term = undefined;
      log.info('controllers stopped');
    }
  }
}
