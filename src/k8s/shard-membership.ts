/**
 * Live members of a shard group of operator replicas, through one
 * coordination.k8s.io/v1 Lease per replica (what kube-controller-manager's
 * and client-go's leader election use, one per member instead of one per
 * group). Why Leases and not a StatefulSet's ordinal and replica count:
 *
 * - A dead replica is noticed within the lease duration wherever it runs: a
 *   StatefulSet keeps counting a pod on a lost node for minutes (until the
 *   node controller evicts it) and its ordinal stays taken, so its clusters
 *   would go uninspected all that time.
 * - Works with a Deployment (the chart's) and with scaling at any time:
 *   nothing is restarted to learn the new count, and the membership is
 *   exactly the set of processes that are up, not the set that should be.
 * - The Lease carries the member list the replica acts on, which the
 *   hand-off protocol (src/k8s/shard-view.ts) needs: a cluster moves only
 *   once its previous owner has stopped it and said so.
 *
 * Each replica writes its Lease `<group>-<hash of identity>` (label
 * etcdmonitor.dev/shard-group=<group>) every retryPeriod, watches the
 * group's Leases, and counts as live every Lease whose record changed less
 * than leaseDurationSeconds ago on its own clock (as leader election does:
 * remote timestamps are never compared with the local clock). A replica that
 * could not renew for renewDeadline stops acting (its clusters go at once);
 * the others take them over when its Lease expires (leaseDuration). On a
 * graceful stop the replica stops its clusters and deletes its Lease: the
 * others take over at once. Leases left by crashed replicas are deleted by
 * any member once they expired.
 */
import { createHash } from 'node:crypto';
import type { Lease } from './api/core.ts';
import { kubeMicroTime } from './api/meta.ts';
import { createInformer, type Informer } from './client/informer.ts';
import { isAlreadyExists, isConflict, isNotFound } from './client/errors.ts';
import type { DeepReadonly } from './client/index.ts';
import type { ResourceClient } from './client/typed.ts';
import { validateLeaseName } from './leaderelection.ts';
import { realClock, sleep, type Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';
import type { Shard, ShardInfo } from '../engine/shard.ts';
import { parseView, ShardView, viewText, type ShardPeer } from './shard-view.ts';

export const SHARD_GROUP_LABEL = 'etcdmonitor.dev/shard-group';
export const SHARD_VIEW_ANNOTATION = 'etcdmonitor.dev/shard-members';

export interface ShardMembershipOptions {
  readonly leases: ResourceClient<Lease>;
  readonly namespace: string;
  /** The group's name: the label value and the prefix of every member's Lease. */
  readonly group: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly logger: Logger;
  readonly clock?: Clock;
  /**
   * Awaited whenever owns() may have narrowed, and always before a narrower
   * view is published: stop running (and writing for) every cluster owns()
   * no longer admits.
   */
  readonly release: () => Promise<void>;
  /** After owns() changed in any way: look at every cluster again (start the newly owned). */
  readonly changed: () => void;
}

/** The Lease of a member: the group's name and a hash of the identity (identities are not DNS names). */
export function memberLeaseName(group: string, identity: string): string {
  return `${group}-${createHash('sha256').update(identity).digest('hex').slice(0, 10)}`;
}

/** Throws a message naming the problem when the group cannot name Leases and label them. */
export function validateShardGroup(namespace: string, group: string): void {
  validateLeaseName(namespace, memberLeaseName(group, 'x'));
  if (group.length > 63 || !/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/.test(group))
    throw new Error(
      `shard group "${group}" must be a label value: at most 63 lowercase letters, digits, - and .`,
    );
}

interface Observed {
  readonly holder: string;
  readonly resourceVersion: string;
  readonly view: readonly string[] | undefined;
  readonly durationMs: number;
  /** Our clock when this record was first seen. */
  readonly at: number;
}

export class ShardMembership implements Shard {
  readonly identity: string;
  readonly #o: ShardMembershipOptions;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #leaseName: string;
  readonly #informer: Informer<Lease>;
  readonly #observed = new Map<string, Observed>();
  readonly #abort = new AbortController();
  #view: ShardView;
  #signature = '';
  #lastRenewal = -Infinity;
  #published = '';
  /** The view a renewal writes: the latest one whose narrowing was released. */
  #publishable = '';
  #writing: Promise<void> = Promise.resolve();
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #moves = 0;

  constructor(opts: ShardMembershipOptions) {
    validateShardGroup(opts.namespace, opts.group);
    this.#o = opts;
    this.identity = opts.identity;
    this.#clock = opts.clock ?? realClock;
    this.#leaseName = memberLeaseName(opts.group, opts.identity);
    this.#log = opts.logger.child({ component: 'sharding', group: opts.group, identity: opts.identity });
    this.#view = new ShardView(opts.identity, [], undefined, []);
    this.#informer = createInformer(
      opts.leases,
      { namespace: opts.namespace, labelSelector: `${SHARD_GROUP_LABEL}=${opts.group}` },
      { logger: opts.logger, clock: this.#clock },
    );
    this.#informer.addEventHandler({
      onAdd: (l) => this.#see(l),
      onUpdate: (_a, b) => this.#see(b),
      onDelete: (l) => {
        this.#observed.delete(l.metadata.name);
        this.#poke();
      },
    });
  }

  owns(key: string): boolean {
    return this.#view.owns(key);
  }

  describe(): ShardInfo {
    return { member: this.identity, members: this.#view.acting.length };
  }

  /** Times owns() changed (view or claims), for metrics and tests. */
  get changes(): number {
    return this.#moves;
  }

  /** Whether this replica currently acts (its Lease renewed within the renew deadline). */
  acting(): boolean {
    return this.#view.acting.length > 0;
  }

  /** Joins the group: watches the group's Leases and, once synced, writes ours and acts on its share. */
  start(): void {
    if (this.#running !== undefined) throw new Error('shard membership already started');
    this.#informer.start();
    this.#running = (async () => {
      if (await this.#informer.waitForSync(this.#abort.signal)) await this.#loop();
    })();
  }

  /** Stops acting (every cluster released), deletes our Lease so the others take over at once. */
  async stop(): Promise<void> {
    this.#abort.abort();
    this.#wake?.();
    await this.#running;
    await this.#writing;
    this.#apply([]);
    await this.#release();
    await this.#informer.stop();
    const call = AbortSignal.timeout(this.#o.renewDeadlineMs);
    try {
      await this.#o.leases.delete(this.#o.namespace, this.#leaseName, { signal: call });
      this.#log.info('left the shard group: Lease deleted');
    } catch (err) {
      if (!isNotFound(err))
        this.#log.warn({ err: errorMessage(err) }, 'cannot delete our shard Lease; it expires on its own');
    }
  }

  #see(lease: DeepReadonly<Lease>): void {
    const name = lease.metadata.name;
    const rv = lease.metadata.resourceVersion ?? '';
    const before = this.#observed.get(name);
    if (before?.resourceVersion === rv) return;
    this.#observed.set(name, {
      holder: lease.spec?.holderIdentity ?? '',
      resourceVersion: rv,
      view: parseView(lease.metadata.annotations?.[SHARD_VIEW_ANNOTATION]),
      durationMs: (lease.spec?.leaseDurationSeconds ?? 0) * 1000,
      at: this.#clock.now(),
    });
    this.#poke();
  }

  #poke(): void {
    this.#wake?.();
  }

  async #loop(): Promise<void> {
    const signal = this.#abort.signal;
    // The first step publishes the view before any heartbeat: never a view of ourselves alone.
    await this.#step(signal);
    const heartbeat = this.#heartbeat(signal);
    while (!signal.aborted) {
      // Until the next check of expiries, or at once when a Lease event arrives.
      await new Promise<void>((resolve) => {
        const timer = this.#clock.after(this.#nextCheckMs(), () => {
          this.#wake = undefined;
          resolve();
        });
        this.#wake = () => {
          this.#wake = undefined;
          timer.cancel();
          resolve();
        };
      });
      if (signal.aborted) break;
      await this.#step(signal);
    }
    await heartbeat;
  }

  /**
   * Until the next look at the Leases: a retry period, or just past the
   * moment a live peer's Lease expires if that comes first — a dead peer's
   * clusters are taken over at its expiry, not up to a retry period later.
   */
  #nextCheckMs(): number {
    const now = this.#clock.now();
    let wait = this.#o.retryPeriodMs;
    for (const [name, o] of this.#observed) {
      if (name === this.#leaseName || o.holder === '' || o.holder === this.identity) continue;
      const left = o.at + o.durationMs - now;
      if (left > 0) wait = Math.min(wait, left + 1);
    }
    return wait;
  }

  /**
   * Renews our Lease every retry period with the view last published, apart
   * from the steps: a step that waits for the controllers to release
   * clusters (slow under load) must not hold back the renewals, or the
   * replica would miss its renew deadline and drop everything.
   */
  async #heartbeat(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await sleep(this.#clock, this.#o.retryPeriodMs, signal);
      } catch {
        return;
      }
      await this.#write(signal);
    }
  }

  /** Writes our Lease with the publishable view; one write at a time. */
  #write(signal: AbortSignal): Promise<void> {
    const next = this.#writing.then(() => this.#renew(this.#publishable, signal));
    this.#writing = next;
    return next;
  }

  /** Live members other than us: a Lease with a holder, changed within its duration. */
  #livePeers(now: number): { member: string; view: readonly string[] | undefined }[] {
    const peers: { member: string; view: readonly string[] | undefined }[] = [];
    for (const [name, o] of this.#observed) {
      if (name === this.#leaseName || o.holder === '' || o.holder === this.identity) continue;
      if (now - o.at < o.durationMs) peers.push({ member: o.holder, view: o.view });
    }
    return peers;
  }

  async #step(signal: AbortSignal): Promise<void> {
    const now = this.#clock.now();
    const peers = this.#livePeers(now);
    const members = JSON.parse(viewText([this.identity, ...peers.map((p) => p.member)])) as string[];
    const healthy = now - this.#lastRenewal < this.#o.renewDeadlineMs;
    const narrowed = this.#apply(healthy ? members : []);
    // Release before publishing: the view that gives clusters away goes out once they stopped here.
    if (narrowed) await this.#release();
    if (signal.aborted) return;
    this.#publishable = viewText(members);
    if (this.#publishable !== this.#published) await this.#write(signal);
    await this.#collectExpired(now, signal);
  }

  /** Recomputes owns(); true when it changed (the caller releases, then the controllers resync). */
  #apply(acting: readonly string[]): boolean {
    const mine = this.#observed.get(this.#leaseName);
    const now = this.#clock.now();
    const peers: ShardPeer[] = this.#livePeers(now).map((p) => ({ member: p.member, published: p.view }));
    const signature = JSON.stringify([acting, mine?.view, peers]);
    if (signature === this.#signature) return false;
    const before = this.#view.acting;
    this.#signature = signature;
    this.#view = new ShardView(this.identity, acting, mine?.view, peers);
    this.#moves++;
    if (viewText(before) !== viewText(acting))
      this.#log.info(
        { members: acting, before },
        acting.length === 0 ? 'not acting' : 'shard members changed',
      );
    queueMicrotask(() => this.#o.changed());
    return true;
  }

  async #release(): Promise<void> {
    try {
      await this.#o.release();
    } catch (err) {
      this.#log.error({ err: errorMessage(err) }, 'releasing clusters failed');
    }
  }

  /** Writes our Lease: renewTime now and the view we act on. */
  async #renew(view: string, parent: AbortSignal): Promise<void> {
    const start = this.#clock.now();
    // Half the renew deadline (at least a retry period): a write stuck on a loaded API server is given
    // up in time for another attempt before the deadline, instead of using all of it.
    const callMs = Math.max(this.#o.retryPeriodMs, this.#o.renewDeadlineMs / 2);
    const signal = AbortSignal.any([parent, AbortSignal.timeout(callMs)]);
    const now = kubeMicroTime(this.#clock.date());
    const spec = {
      holderIdentity: this.identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      renewTime: now,
    };
    const metadata = {
      name: this.#leaseName,
      namespace: this.#o.namespace,
      labels: { [SHARD_GROUP_LABEL]: this.#o.group },
      annotations: { [SHARD_VIEW_ANNOTATION]: view },
    };
    try {
      const current = this.#informer.lister.get(this.#o.namespace, this.#leaseName);
      if (current === undefined) {
        await this.#o.leases.create(
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata,
            spec: { ...spec, acquireTime: now },
          },
          { signal },
        );
      } else {
        await this.#o.leases.update(
          {
            ...current,
            metadata: { ...current.metadata, labels: metadata.labels, annotations: metadata.annotations },
            spec: { ...current.spec, ...spec },
          },
          { signal },
        );
      }
      this.#lastRenewal = start;
      if (view !== this.#published) {
        this.#published = view;
        this.#log.debug({ view }, 'view published');
      }
    } catch (err) {
      if (parent.aborted) return;
      // Our cache is behind our own write (conflict, exists, gone): the watch catches up, the next step retries.
      const routine = isConflict(err) || isAlreadyExists(err) || isNotFound(err);
      this.#log[routine ? 'debug' : 'warn']({ err: errorMessage(err) }, 'cannot renew our shard Lease');
    }
  }

  /**
   * Deletes the Leases of replicas that died without deleting theirs, as
   * soon as they expired. At once, not a lease duration later: a replica
   * that joins meanwhile first sees such a Lease as just renewed (it
   * compares no remote timestamps) and would count the dead replica for a
   * whole lease, leaving the clusters it assigns to it inspected by no one.
   * Safe: the delete applies only to the version that expired (a renewal
   * since makes it fail), and a replica unable to renew for its renew
   * deadline (less than the lease) has stopped acting by then.
   */
  async #collectExpired(now: number, signal: AbortSignal): Promise<void> {
    for (const [name, o] of this.#observed) {
      if (name === this.#leaseName || now - o.at < Math.max(o.durationMs, this.#o.leaseDurationMs)) continue;
      try {
        await this.#o.leases.delete(this.#o.namespace, name, {
          signal,
          preconditions: { resourceVersion: o.resourceVersion },
        });
        this.#log.info(
          { lease: name, holder: o.holder },
          'deleted the expired shard Lease of a gone replica',
        );
      } catch (err) {
        if (!isNotFound(err) && !isConflict(err) && !signal.aborted)
          this.#log.warn({ err: errorMessage(err), lease: name }, 'cannot delete an expired shard Lease');
      }
    }
  }
}
