import type { Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { failedOutcome, type FeatureSession, type InspectionOutcome } from './contract.ts';
import { ClusterConnection, type ClientFactory } from './connection.ts';
import type { Limiter, RoundPressure } from './limiter.ts';
import { runEvery, startJitterMs } from './loop.ts';
import { timeoutSignal, type Clock } from '../clock.ts';
import type { ClusterSnapshot, FeatureRun, FeatureSnapshot, SnapshotStore } from './snapshot.ts';
import {
  connectionFingerprint,
  featureFingerprint,
  membersIntervalSeconds,
  roundTimeoutMs,
  sortedFeatures,
  type ClusterSpec,
  type FeatureSpec,
} from './cluster-spec.ts';

export interface RuntimeDeps {
  readonly store: SnapshotStore;
  readonly clients: ClientFactory;
  readonly limiter: Limiter;
  readonly logger: Logger;
  /** Spread first rounds over the interval (daemon); off for one-shot runs and tests. */
  readonly jitter: boolean;
  /** Paces the loops and the round deadlines; tests pass a FakeClock. */
  readonly clock: Clock;
  /** Told how long rounds waited for a slot (the monitor's own metrics). */
  readonly pressure?: RoundPressure;
  /** How many clusters the engine holds (the first rounds spread wider as it grows). */
  readonly clusters: () => number;
}

/** The feature name under which membership reads report their waits. */
export const MEMBERSHIP = 'membership';

/**
 * Waits for a slot of the global limiter, then runs fn under a deadline that
 * starts only then: time spent queued behind other clusters' rounds is the
 * process's saturation, not this cluster's slowness, and is never charged to
 * the round. The wait is reported, with the rounds that fell due meanwhile
 * (skipped: the loop runs the next round at its next slot, never a backlog).
 * Rejects with the parent's reason when the parent aborts while waiting.
 */
async function inSlot<T>(
  deps: RuntimeDeps,
  what: { feature: string; intervalMs: number; timeoutMs: number; timedOut: () => Error },
  parent: AbortSignal,
  fn: (signal: AbortSignal) => Promise<T>,
): Promise<T> {
  const queuedAt = deps.clock.now();
  const release = await deps.limiter.acquire(parent);
  const waitedMs = deps.clock.now() - queuedAt;
  deps.pressure?.waited(what.feature, waitedMs / 1000, Math.floor(waitedMs / what.intervalMs));
  const deadline = timeoutSignal(deps.clock, what.timeoutMs, what.timedOut);
  try {
    return await fn(AbortSignal.any([parent, deadline.signal]));
  } finally {
    deadline.cancel();
    release();
  }
}

/** Deadline of the one membership read of `inspect` (the features' own deadlines follow it). */
const DISCOVERY_TIMEOUT_ONCE_MS = 30_000;

class RoundTimeout extends Error {
  override name = 'RoundTimeout';
}

/** A feature of the cluster under its name. */
interface NamedFeature {
  readonly name: string;
  readonly spec: FeatureSpec;
}

/**
 * The features to run, in a stable order, and why none run. The adapters
 * checked them (FeatureRegistry.check): nothing is parsed again here.
 */
function runnableFeatures(spec: ClusterSpec): { features: NamedFeature[]; errors: string[] } {
  if (spec.endpoints.length === 0)
    return { features: [], errors: ['no endpoints configured: nothing to inspect'] };
  return { features: sortedFeatures(spec).map(([name, feature]) => ({ name, spec: feature })), errors: [] };
}

/** One feature of one cluster: its session and its loop. */
class FeatureRunner {
  readonly fingerprint: string;
  readonly #resolved: NamedFeature;
  readonly #cluster: ClusterConnection;
  readonly #deps: RuntimeDeps;
  readonly #abort = new AbortController();
  readonly #session: FeatureSession;
  #loop: Promise<void> = Promise.resolve();

  constructor(resolved: NamedFeature, cluster: ClusterConnection, deps: RuntimeDeps) {
    this.#resolved = resolved;
    this.#cluster = cluster;
    this.#deps = deps;
    this.fingerprint = featureFingerprint(resolved.spec);
    this.#session = resolved.spec.feature.open(cluster.handle, resolved.spec.options);
  }

  start(): void {
    const intervalMs = this.#resolved.spec.intervalSeconds * 1000;
    const delay = this.#deps.jitter ? startJitterMs(intervalMs, this.#deps.clusters()) : 0;
    this.#loop = runEvery(
      intervalMs,
      () => this.runOnce(this.#abort.signal).then(() => undefined),
      this.#abort.signal,
      { initialDelayMs: delay, clock: this.#deps.clock },
    );
  }

  /**
   * One round: waits for the cluster's first membership read and for a slot
   * of the global limiter (neither counts against the round's deadline),
   * then inspects under the deadline; the result goes to the store.
   */
  async runOnce(parent: AbortSignal): Promise<FeatureRun> {
    const { name } = this.#resolved;
    const timeoutMs = roundTimeoutMs(this.#resolved.spec);
    let startedAt = new Date();
    let t0 = performance.now();
    let outcome: InspectionOutcome;
    try {
      await this.#cluster.ready(parent);
      outcome = await inSlot(
        this.#deps,
        {
          feature: name,
          intervalMs: this.#resolved.spec.intervalSeconds * 1000,
          timeoutMs,
          timedOut: () => new RoundTimeout(`round timed out after ${timeoutMs} ms`),
        },
        parent,
        (signal) => {
          startedAt = new Date();
          t0 = performance.now();
          return this.#session.inspect(signal);
        },
      );
    } catch (err) {
      outcome = failedOutcome(errorMessage(err));
    }
    const run: FeatureRun = { startedAt, durationMs: performance.now() - t0, ...outcome };
    // A round cut short by stop() is not a result: the cluster or feature is going away.
    if (parent.aborted) return run;
    if (!run.ok) this.#cluster.logger.warn({ feature: name, err: run.error }, 'inspection failed');
    this.#deps.store.update(this.#cluster.spec.id, (s) =>
      recordRun(s, name, this.#resolved.spec.intervalSeconds, run),
    );
    return run;
  }

  async stop(): Promise<void> {
    this.#abort.abort(new Error('feature stopped'));
    await this.#loop;
    await this.#session.close().catch((err: unknown) => {
      this.#cluster.logger.warn(
        { feature: this.#resolved.name, error: errorMessage(err) },
        'closing feature failed',
      );
    });
  }
}

function recordRun(
  snapshot: ClusterSnapshot,
  name: string,
  intervalSeconds: number,
  run: FeatureRun,
): ClusterSnapshot {
  const prior = snapshot.features[name];
  const feature: FeatureSnapshot = {
    name,
    intervalSeconds,
    runs: (prior?.runs ?? 0) + 1,
    failures: (prior?.failures ?? 0) + (run.ok ? 0 : 1),
    consecutiveFailures: run.ok ? 0 : (prior?.consecutiveFailures ?? 0) + 1,
    last: run,
  };
  return { ...snapshot, features: { ...snapshot.features, [name]: feature } };
}

function emptyFeature(name: string, intervalSeconds: number): FeatureSnapshot {
  return { name, intervalSeconds, runs: 0, failures: 0, consecutiveFailures: 0 };
}

/**
 * Everything the engine does for one cluster: its connections, membership
 * loop and feature runners. Owned by the Engine; stop() frees all of it.
 */
export class ClusterRuntime {
  #spec: ClusterSpec;
  #connection: ClusterConnection;
  #connectionFingerprint: string;
  readonly #runners = new Map<string, FeatureRunner>();
  readonly #deps: RuntimeDeps;
  readonly #logger: Logger;
  #membersAbort = new AbortController();
  #membersLoop: Promise<void> = Promise.resolve();
  #membersIntervalSeconds = 0;

  constructor(spec: ClusterSpec, deps: RuntimeDeps) {
    this.#spec = spec;
    this.#deps = deps;
    this.#logger = deps.logger.child({ cluster: spec.id });
    this.#connection = new ClusterConnection(spec, deps.clients, this.#logger);
    this.#connectionFingerprint = connectionFingerprint(spec);
  }

  get spec(): ClusterSpec {
    return this.#spec;
  }

  /** Starts the membership loop and every valid feature. */
  start(): void {
    const { features, errors } = runnableFeatures(this.#spec);
    this.#deps.store.set(this.#initialSnapshot(errors, features));
    for (const error of errors) this.#logger.error({ error }, 'invalid cluster configuration');
    this.#restartMembersLoop();
    for (const resolved of features) this.#startRunner(resolved);
  }

  /**
   * Applies a changed spec: new connection settings restart the whole
   * cluster; otherwise only the features whose settings changed restart.
   */
  async update(spec: ClusterSpec): Promise<void> {
    const fingerprint = connectionFingerprint(spec);
    if (fingerprint !== this.#connectionFingerprint) {
      await this.#stopAll();
      this.#spec = spec;
      this.#connection = new ClusterConnection(spec, this.#deps.clients, this.#logger);
      this.#connectionFingerprint = fingerprint;
      this.start();
      return;
    }
    this.#spec = spec;
    // The connection keeps its spec for everything connection-related, which is unchanged.
    const { features, errors } = runnableFeatures(spec);
    const wanted = new Map(features.map((f) => [f.name, f]));
    for (const [name, runner] of [...this.#runners]) {
      const next = wanted.get(name);
      if (next === undefined || featureFingerprint(next.spec) !== runner.fingerprint) {
        this.#runners.delete(name);
        await runner.stop();
      }
    }
    this.#deps.store.update(spec.id, (s) => {
      const kept: Record<string, FeatureSnapshot> = {};
      for (const f of features)
        kept[f.name] =
          this.#runners.has(f.name) && s.features[f.name] !== undefined
            ? s.features[f.name]!
            : emptyFeature(f.name, f.spec.intervalSeconds);
      return { ...s, name: spec.name, configErrors: errors, features: kept };
    });
    for (const f of features) if (!this.#runners.has(f.name)) this.#startRunner(f);
    if (this.#membersInterval() !== this.#membersIntervalSeconds) this.#restartMembersLoop();
  }

  async stop(): Promise<void> {
    await this.#stopAll();
    this.#deps.store.delete(this.#spec.id);
  }

  /** One discovery and one round of every feature, in parallel; for `inspect`. */
  async runOnce(signal: AbortSignal): Promise<ClusterSnapshot | undefined> {
    const { features, errors } = runnableFeatures(this.#spec);
    this.#deps.store.set(this.#initialSnapshot(errors, features));
    await this.#discover(signal, DISCOVERY_TIMEOUT_ONCE_MS);
    const runners = features.map((f) => new FeatureRunner(f, this.#connection, this.#deps));
    try {
      await Promise.all(runners.map((r) => r.runOnce(signal)));
    } finally {
      await Promise.all(runners.map((r) => r.stop()));
      await this.#connection.close();
    }
    return this.#deps.store.get(this.#spec.id);
  }

  #initialSnapshot(errors: string[], features: NamedFeature[]): ClusterSnapshot {
    const spec = this.#spec;
    return {
      id: spec.id,
      name: spec.name,
      labels: spec.labels ?? {},
      endpoints: spec.endpoints.map((e) => e.url),
      storageBackend: spec.storageBackend,
      configErrors: errors,
      features: Object.fromEntries(
        features.map((f) => [f.name, emptyFeature(f.name, f.spec.intervalSeconds)]),
      ),
    };
  }

  #startRunner(resolved: NamedFeature): void {
    try {
      const runner = new FeatureRunner(resolved, this.#connection, this.#deps);
      this.#runners.set(resolved.name, runner);
      runner.start();
    } catch (err) {
      const error = `feature ${resolved.name} could not start: ${errorMessage(err)}`;
      this.#logger.error({ error }, 'feature start failed');
      this.#deps.store.update(this.#spec.id, (s) => ({ ...s, configErrors: [...s.configErrors, error] }));
    }
  }

  #membersInterval(): number {
    const explicit = this.#spec.membersIntervalSeconds;
    if (explicit !== undefined && explicit > 0) return explicit;
    return membersIntervalSeconds(Object.values(this.#spec.features).map((f) => f.intervalSeconds));
  }

  #restartMembersLoop(): void {
    this.#membersAbort.abort();
    if (this.#spec.endpoints.length === 0) return;
    const previous = this.#membersLoop;
    const abort = new AbortController();
    this.#membersAbort = abort;
    this.#membersIntervalSeconds = this.#membersInterval();
    const intervalMs = this.#membersIntervalSeconds * 1000;
    this.#membersLoop = previous.then(() =>
      runEvery(intervalMs, () => this.#discover(abort.signal, intervalMs), abort.signal, {
        clock: this.#deps.clock,
      }),
    );
  }

  /** One membership read, under a slot and a deadline of one membership interval once it has the slot. */
  async #discover(parent: AbortSignal, timeoutMs: number): Promise<void> {
    const connection = this.#connection;
    try {
      await inSlot(
        this.#deps,
        {
          feature: MEMBERSHIP,
          intervalMs: timeoutMs,
          timeoutMs,
          timedOut: () => new RoundTimeout(`member discovery timed out after ${timeoutMs} ms`),
        },
        parent,
        async (signal) => {
          const members = await connection.discover(signal);
          if (this.#membersAbort.signal.aborted) return;
          if (members.error !== undefined)
            this.#logger.warn({ err: members.error }, 'member discovery failed');
          if (connection === this.#connection && !signal.aborted)
            this.#deps.store.update(this.#spec.id, (s) => ({ ...s, members }));
        },
      );
    } catch (err) {
      if (parent.aborted && this.#membersAbort.signal.aborted) return;
      this.#logger.warn({ err: errorMessage(err) }, 'member discovery failed');
    }
  }

  async #stopAll(): Promise<void> {
    this.#membersAbort.abort();
    const runners = [...this.#runners.values()];
    this.#runners.clear();
    await Promise.all([this.#membersLoop, ...runners.map((r) => r.stop())]);
    await this.#connection.close();
  }
}
