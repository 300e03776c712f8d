/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's
 * algorithm (k8s.io/client-go/tools/leaderelection):
 *
 * - Candidates try to acquire every retryPeriod (jittered by up to 1.2×).
 *   The lease is free when it does not exist, has no holder, is ours, or has
 *   expired: a lease expires leaseDurationSeconds after we last OBSERVED its
 *   record change, on our own monotonic clock. The remote renewTime is never
 *   compared with the local clock, so clock skew between nodes does not matter.
 * - Every write is conditional on the resourceVersion last seen: of two
 *   candidates writing at once, one gets a conflict and stays a candidate.
 * - The leader renews every retryPeriod. If no renewal has succeeded within
 *   renewDeadline of the start of the last successful one, or a renewal finds
 *   the lease held by someone else, it stops leading at once: the leading
 *   AbortSignal aborts and onStoppedLeading() runs, while any call in flight
 *   is cancelled. It never waits for the lease to run out to step down.
 * - With releaseOnCancel, once the leading work has returned, the leader
 *   clears holderIdentity (leaseDurationSeconds=1) so a standby takes over
 *   at its next retry instead of after leaseDuration.
 *
 * Differences from client-go, on purpose: onStoppedLeading runs only if we
 * led; the lease is released only after onStartedLeading's promise settled
 * (so two leaders never act at once); and a renewal that finds another holder
 * steps down immediately instead of retrying until the deadline.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Lease, LeaseSpec } from './api/core.ts';
import { kubeMicroTime } from './api/meta.ts';
import { isNotFound } from './client/errors.ts';
import type { ResourceClient } from './client/typed.ts';
import { silentLogger, type Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { realClock, sleep, type Clock, type Timer } from '../clock.ts';

/** The spec fields of a Lease that leader election reads and writes. */
export interface LeaderElectionRecord {
  /** '' when nobody holds the lease (after a release). */
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  /** RFC 3339 with microseconds, as the API writes MicroTime. */
  readonly acquireTime: string | undefined;
  readonly renewTime: string | undefined;
  readonly leaseTransitions: number;
}

/** Storage of the election record (client-go's resourcelock.Interface). */
export interface LeaseLock {
  /** "namespace/name", for logs and errors. */
  readonly description: string;
  /** The current record, or null when the lease does not exist. */
  get(signal: AbortSignal): Promise<LeaderElectionRecord | null>;
  /** Creates the lease; rejects if it already exists. */
  create(record: LeaderElectionRecord, signal: AbortSignal): Promise<void>;
  /** Replaces the record, conditional on the version last read or written by this lock; rejects on a conflict. */
  update(record: LeaderElectionRecord, signal: AbortSignal): Promise<void>;
}

export interface LeaderElectionOptions {
  readonly lock: LeaseLock;
  /** Unique per replica; defaults to defaultIdentity(). */
  readonly identity?: string;
  /** How long a lease is valid after its last observed change (default 60 s; whole seconds). */
  readonly leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it steps down (default 15 s). */
  readonly renewDeadlineMs?: number;
  /** Interval between two attempts to acquire or renew (default 5 s). */
  readonly retryPeriodMs?: number;
  /** Clear the lease when leading ends and the leading work has returned (default true). */
  readonly releaseOnCancel?: boolean;
  /**
   * Called once leadership is acquired. The signal aborts when leadership
   * ends for any reason; the returned promise must settle soon after (run()
   * awaits it, and the lease is only released after it settled; if it has
   * not settled renewDeadline after leadership ended, the lease is left to
   * expire). Resolving early does not end leadership; rejecting while
   * leading makes the elector log the error and step down. A callback that
   * returns nothing cannot be waited for.
   */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Called at the moment leadership ends (only if it was acquired). */
  readonly onStoppedLeading?: () => void;
  /** Called when the observed holder changes to a non-empty identity (ours included). */
  readonly onNewLeader?: (identity: string) => void;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /** Source of jitter in [0, 1); defaults to Math.random. */
  readonly random?: () => number;
}

export const DEFAULT_LEASE_DURATION_MS = 60_000;
export const DEFAULT_RENEW_DEADLINE_MS = 15_000;
export const DEFAULT_RETRY_PERIOD_MS = 5_000;
/** client-go's JitterFactor: acquisition retries wait retryPeriod × (1 + 1.2 × rand). */
export const JITTER_FACTOR = 1.2;

/** client-go's convention: hostname, an underscore and a random suffix, so two processes on one host differ. */
export function defaultIdentity(): string {
  return `${hostname()}_${randomBytes(8).toString('hex')}`;
}

/** Why the leading signal aborted. */
export class LeadershipLostError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LeadershipLostError';
  }
}

type Attempt = 'ok' | 'held-by-other' | 'failed';

interface ResolvedOptions {
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly releaseOnCancel: boolean;
}

/** Checks the timing options the way client-go's NewLeaderElector does, with the option names in the messages. */
export function validateLeaderElectionOptions(
  opts: Omit<LeaderElectionOptions, 'lock' | 'onStartedLeading'>,
): ResolvedOptions {
  const lease = opts.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
  const renew = opts.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
  const retry = opts.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
  const identity = opts.identity ?? defaultIdentity();
  const positive = (name: string, v: number): void => {
    if (!Number.isFinite(v) || v <= 0)
      throw new Error(`leader election: ${name} must be a positive duration, got ${v} ms`);
  };
  positive('leaseDuration', lease);
  positive('renewDeadline', renew);
  positive('retryPeriod', retry);
  if (lease % 1000 !== 0)
    throw new Error(
      `leader election: leaseDuration must be a whole number of seconds (the Lease stores seconds), got ${lease} ms`,
    );
  if (lease <= renew)
    throw new Error(
      `leader election: leaseDuration (${lease} ms) must be greater than renewDeadline (${renew} ms)`,
    );
  if (renew <= JITTER_FACTOR * retry) {
    throw new Error(
      `leader election: renewDeadline (${renew} ms) must be greater than retryPeriod × ${JITTER_FACTOR} (${JITTER_FACTOR * retry} ms)`,
    );
  }
  if (identity.trim() === '') throw new Error('leader election: identity must not be empty');
  return {
    identity,
    leaseDurationMs: lease,
    renewDeadlineMs: renew,
    retryPeriodMs: retry,
    releaseOnCancel: opts.releaseOnCancel ?? true,
  };
}

function rawRecord(r: LeaderElectionRecord): string {
  return JSON.stringify([
    r.holderIdentity,
    r.leaseDurationSeconds,
    r.acquireTime ?? null,
    r.renewTime ?? null,
    r.leaseTransitions,
  ]);
}

export class LeaderElector {
  readonly identity: string;
  readonly #options: ResolvedOptions;
  readonly #lock: LeaseLock;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #log: Logger;
  readonly #onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  readonly #onStoppedLeading: (() => void) | undefined;
  readonly #onNewLeader: ((identity: string) => void) | undefined;

  #observed: LeaderElectionRecord | undefined;
  #observedRaw = '';
  #observedAt = -Infinity;
  #reportedLeader = '';
  #leading: AbortController | undefined;
  #running = false;

  constructor(opts: LeaderElectionOptions) {
    this.#options = validateLeaderElectionOptions(opts);
    this.identity = this.#options.identity;
    this.#lock = opts.lock;
    this.#clock = opts.clock ?? realClock;
    this.#random = opts.random ?? Math.random;
    this.#log = (opts.logger ?? silentLogger()).child({
      component: 'leader-election',
      lease: opts.lock.description,
      identity: this.identity,
    });
    this.#onStartedLeading = opts.onStartedLeading;
    this.#onStoppedLeading = opts.onStoppedLeading;
    this.#onNewLeader = opts.onNewLeader;
  }

  /** True from the moment leadership is acquired until the moment it ends. */
  isLeader(): boolean {
    return this.#leading !== undefined && !this.#leading.signal.aborted;
  }

  /** The last observed holder ('' when none or not observed yet). */
  leader(): string {
    return this.#observed?.holderIdentity ?? '';
  }

  /**
   * For a /healthz check (client-go's HealthzAdaptor): an error message when
   * we lead but have not renewed for longer than the lease plus the tolerance
   * (a stuck process), undefined otherwise.
   */
  check(toleranceMs = 0): string | undefined {
    if (!this.isLeader()) return undefined;
    const expiredFor = this.#clock.now() - (this.#observedAt + this.#options.leaseDurationMs);
    if (expiredFor > toleranceMs)
      return `leader election lease ${this.#lock.description} expired ${Math.round(expiredFor)} ms ago`;
    return undefined;
  }

  /**
   * Campaigns until leadership is acquired or the signal aborts, then leads
   * until leadership is lost or the signal aborts. Resolves once leading has
   * ended, the leading work has settled and the lease was released (if
   * configured). One elector runs once; create a new one to campaign again.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (this.#running) throw new Error('LeaderElector.run() is already running');
    this.#running = true;
    try {
      const acquiredAt = await this.#acquire(signal);
      if (acquiredAt === undefined) return;
      await this.#lead(signal, acquiredAt);
    } finally {
      this.#running = false;
    }
  }

  /** Returns the start time of the successful attempt, or undefined if the signal aborted first. */
  async #acquire(signal: AbortSignal): Promise<number | undefined> {
    this.#log.info('attempting to acquire leader lease');
    for (;;) {
      if (signal.aborted) return undefined;
      const start = this.#clock.now();
      const call = this.#callSignal(signal, this.#options.renewDeadlineMs);
      const result = await this.#tryAcquireOrRenew(call.signal).finally(call.dispose);
      this.#reportTransition();
      if (result === 'ok') {
        if (!signal.aborted) {
          this.#log.info('acquired leader lease');
          return start;
        }
        // Acquired as we were told to stop: give it back rather than hold it idle.
        if (this.#options.releaseOnCancel) await this.#release();
        return undefined;
      }
      const wait = this.#options.retryPeriodMs * (1 + JITTER_FACTOR * this.#random());
      try {
        await sleep(this.#clock, wait, signal);
      } catch {
        return undefined;
      }
    }
  }

  async #lead(signal: AbortSignal, acquiredAt: number): Promise<void> {
    if (signal.aborted) {
      // Told to stop between acquiring and leading: never start the work.
      if (this.#options.releaseOnCancel) await this.#release();
      return;
    }
    const leading = new AbortController();
    this.#leading = leading;
    let deadlineTimer: Timer | undefined;

    const stop = (reason: string): void => {
      if (leading.signal.aborted) return;
      deadlineTimer?.cancel();
      if (signal.aborted) this.#log.info({ reason }, 'stopped leading');
      else this.#log.warn({ reason }, 'stopped leading');
      leading.abort(new LeadershipLostError(reason));
      try {
        this.#onStoppedLeading?.();
      } catch (err) {
        this.#log.error({ err: errorMessage(err) }, 'onStoppedLeading threw');
      }
    };
    const armDeadline = (attemptStart: number): void => {
      deadlineTimer?.cancel();
      const deadlineAt = attemptStart + this.#options.renewDeadlineMs;
      deadlineTimer = this.#clock.after(deadlineAt - this.#clock.now(), () =>
        stop(`no successful renewal within renewDeadline (${this.#options.renewDeadlineMs} ms)`),
      );
    };
    const onAbort = (): void => stop('shutting down');
    signal.addEventListener('abort', onAbort, { once: true });
    armDeadline(acquiredAt);

    let work: Promise<void>;
    try {
      work = Promise.resolve(this.#onStartedLeading(leading.signal));
    } catch (err) {
      work = Promise.reject(err as Error);
    }
    let workSettled = false;
    work = work.then(
      () => {
        workSettled = true;
      },
      (err: unknown) => {
        workSettled = true;
        if (leading.signal.aborted) {
          this.#log.debug(
            { err: errorMessage(err) },
            'leading work ended with an error after leadership ended',
          );
        } else {
          this.#log.error({ err: errorMessage(err) }, 'leading work failed; stepping down');
          stop(`leading work failed: ${errorMessage(err)}`);
        }
      },
    );

    while (!leading.signal.aborted) {
      try {
        await sleep(this.#clock, this.#options.retryPeriodMs, leading.signal);
      } catch {
        break;
      }
      const start = this.#clock.now();
      // The deadline timer aborts `leading`, which cancels this call too.
      const result = await this.#tryAcquireOrRenew(leading.signal);
      if (leading.signal.aborted) break;
      this.#reportTransition();
      if (result === 'ok') {
        armDeadline(start);
      } else if (result === 'held-by-other') {
        stop(`lease taken by ${this.leader()}`);
      } else {
        this.#log.debug('failed to renew the leader lease; retrying');
      }
    }
    signal.removeEventListener('abort', onAbort);
    deadlineTimer?.cancel();

    // Never release before the work has stopped: the next leader would act alongside it.
    if (!workSettled) {
      const limit = new AbortController();
      const timeout = this.#clock.after(this.#options.renewDeadlineMs, () => limit.abort());
      await Promise.race([
        work,
        new Promise<void>((r) => limit.signal.addEventListener('abort', () => r(), { once: true })),
      ]);
      timeout.cancel();
    }
    if (!workSettled) {
      this.#log.warn(
        `leading work did not return within ${this.#options.renewDeadlineMs} ms of losing leadership; not releasing the lease (it expires on its own)`,
      );
    } else if (this.#options.releaseOnCancel) {
      await this.#release();
    }
    await (workSettled ? Promise.resolve() : work);
  }

  /** client-go's tryAcquireOrRenew. */
  async #tryAcquireOrRenew(signal: AbortSignal): Promise<Attempt> {
    const now = kubeMicroTime(this.#clock.date());
    const base = {
      holderIdentity: this.identity,
      leaseDurationSeconds: this.#options.leaseDurationMs / 1000,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: 0,
    };

    // 1. Fast path: the leader updates optimistically from the record it last wrote.
    const observed = this.#observed;
    if (observed !== undefined && this.#observedIsUs() && this.#leaseValid()) {
      const record = {
        ...base,
        acquireTime: observed.acquireTime,
        leaseTransitions: observed.leaseTransitions,
      };
      try {
        await this.#lock.update(record, signal);
        this.#setObserved(record);
        return 'ok';
      } catch (err) {
        if (signal.aborted) return 'failed';
        this.#log.debug({ err: errorMessage(err) }, 'optimistic lease update failed; reading the lease');
      }
    }

    // 2. Read the lease, or create it.
    let current: LeaderElectionRecord | null;
    try {
      current = await this.#lock.get(signal);
    } catch (err) {
      if (!signal.aborted) this.#log.warn({ err: errorMessage(err) }, 'cannot read the leader lease');
      return 'failed';
    }
    if (current === null) return this.#write('create', base, signal);

    // 3. Someone else's valid lease stands.
    if (rawRecord(current) !== this.#observedRaw) this.#setObserved(current);
    if (current.holderIdentity !== '' && this.#leaseValid() && !this.#observedIsUs()) return 'held-by-other';

    // 4. Ours, free, or expired: take or keep it.
    const record = this.#observedIsUs()
      ? { ...base, acquireTime: current.acquireTime, leaseTransitions: current.leaseTransitions }
      : { ...base, leaseTransitions: current.leaseTransitions + 1 };
    return this.#write('update', record, signal);
  }

  /** Creates or updates the lease: 'ok' with the record observed as ours, or 'failed' (logged unless cancelled). */
  async #write(
    how: 'create' | 'update',
    record: LeaderElectionRecord,
    signal: AbortSignal,
  ): Promise<Attempt> {
    try {
      await this.#lock[how](record, signal);
    } catch (err) {
      if (!signal.aborted) this.#log.info({ err: errorMessage(err) }, `cannot ${how} the leader lease`);
      return 'failed';
    }
    this.#setObserved(record);
    return 'ok';
  }

  async #release(): Promise<void> {
    const call = this.#callSignal(undefined, this.#options.renewDeadlineMs);
    try {
      const current = await this.#lock.get(call.signal);
      if (current === null || current.holderIdentity !== this.identity) return;
      const now = kubeMicroTime(this.#clock.date());
      const record = {
        holderIdentity: '',
        leaseDurationSeconds: 1,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: current.leaseTransitions,
      };
      await this.#lock.update(record, call.signal);
      this.#setObserved(record);
      this.#log.info('released leader lease');
    } catch (err) {
      this.#log.warn({ err: errorMessage(err) }, 'cannot release the leader lease; it expires on its own');
    } finally {
      call.dispose();
    }
  }

  #setObserved(record: LeaderElectionRecord): void {
    this.#observed = record;
    this.#observedRaw = rawRecord(record);
    this.#observedAt = this.#clock.now();
  }

  #observedIsUs(): boolean {
    return this.#observed?.holderIdentity === this.identity;
  }

  /** The observed lease is valid until leaseDurationSeconds after we observed it, on our clock. */
  #leaseValid(): boolean {
    const seconds = this.#observed?.leaseDurationSeconds ?? 0;
    return this.#observedAt + seconds * 1000 > this.#clock.now();
  }

  #reportTransition(): void {
    const holder = this.#observed?.holderIdentity ?? '';
    if (holder === this.#reportedLeader) return;
    this.#reportedLeader = holder;
    if (holder === '') return;
    this.#log.info({ leader: holder }, 'new leader observed');
    try {
      this.#onNewLeader?.(holder);
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'onNewLeader threw');
    }
  }

  /** A signal that aborts with the parent or after ms on our clock. */
  #callSignal(parent: AbortSignal | undefined, ms: number): { signal: AbortSignal; dispose: () => void } {
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort(parent?.reason);
    if (parent?.aborted === true) ctl.abort(parent.reason);
    else parent?.addEventListener('abort', onAbort, { once: true });
    const timer = this.#clock.after(ms, () =>
      ctl.abort(new Error(`leader election call timed out after ${ms} ms`)),
    );
    return {
      signal: ctl.signal,
      dispose: () => {
        timer.cancel();
        parent?.removeEventListener('abort', onAbort);
      },
    };
  }
}

// --- The Lease lock on the Kubernetes API.

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const OBJECT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Throws when the Lease's namespace or name is not a valid Kubernetes name. */
export function validateLeaseName(namespace: string, name: string): void {
  if (!NAMESPACE_NAME.test(namespace) || namespace.length > 63)
    throw new Error(`leader election: lease namespace "${namespace}" is not a valid namespace name`);
  if (!OBJECT_NAME.test(name) || name.length > 253) {
    throw new Error(
      `leader election: lease name "${name}" is not a valid object name (lowercase DNS subdomain)`,
    );
  }
}

/** Reads the election record from a Lease, defaulting missing fields. */
export function recordFromLease(lease: Pick<Lease, 'spec'>): LeaderElectionRecord {
  const spec: LeaseSpec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: spec.acquireTime,
    renewTime: spec.renewTime,
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

function leaseSpec(prev: LeaseSpec | undefined, r: LeaderElectionRecord): LeaseSpec {
  const { acquireTime: _a, renewTime: _r, ...rest } = prev ?? {};
  return {
    ...rest,
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    leaseTransitions: r.leaseTransitions,
    ...(r.acquireTime !== undefined && { acquireTime: r.acquireTime }),
    ...(r.renewTime !== undefined && { renewTime: r.renewTime }),
  };
}

/**
 * A LeaseLock on a coordination.k8s.io/v1 Lease (client-go's LeaseLock).
 * Updates are PUTs carrying the resourceVersion of the Lease last read or
 * written, so a concurrent writer makes them fail with 409 Conflict.
 * Needs get, create and update on leases in the namespace.
 */
export class KubeLeaseLock implements LeaseLock {
  readonly description: string;
  readonly #leases: ResourceClient<Lease>;
  readonly #namespace: string;
  readonly #name: string;
  #lease: Lease | undefined;

  constructor(leases: ResourceClient<Lease>, namespace: string, name: string) {
    validateLeaseName(namespace, name);
    this.#leases = leases;
    this.#namespace = namespace;
    this.#name = name;
    this.description = `${namespace}/${name}`;
  }

  async get(signal: AbortSignal): Promise<LeaderElectionRecord | null> {
    try {
      this.#lease = await this.#leases.get(this.#namespace, this.#name, { signal });
    } catch (err) {
      if (isNotFound(err)) {
        this.#lease = undefined;
        return null;
      }
      throw err;
    }
    return recordFromLease(this.#lease);
  }

  async create(record: LeaderElectionRecord, signal: AbortSignal): Promise<void> {
    this.#lease = await this.#leases.create(
      { metadata: { name: this.#name, namespace: this.#namespace }, spec: leaseSpec(undefined, record) },
      { signal },
    );
  }

  async update(record: LeaderElectionRecord, signal: AbortSignal): Promise<void> {
    const prev = this.#lease;
    if (prev === undefined)
      throw new Error(`lease ${this.description} must be read or created before it is updated`);
    this.#lease = await this.#leases.update({ ...prev, spec: leaseSpec(prev.spec, record) }, { signal });
  }
}
