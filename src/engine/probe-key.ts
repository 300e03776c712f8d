/**
 * The engine's side of ProbeKey (see contract.ts): one key of a feature's
 * own, named here, under a lease granted, renewed and revoked here. The
 * feature never holds a client that can write; it only asks this object to
 * put a short value into this one key.
 */
import { randomBytes } from 'node:crypto';
import { realClock, type Clock } from '../clock.ts';
import { errorMessage } from '../errors.ts';
import { EtcdError, type EtcdV3MemberClient } from '../etcd/types.ts';
import type { Logger } from '../log.ts';
import {
  OptionsError,
  PROBE_VALUE_MAX_BYTES,
  probeKeyRequestProblem,
  type MemberHandle,
  type ProbeKey,
  type ProbeKeyRequest,
} from './contract.ts';

interface Lease {
  readonly id: bigint;
  readonly ttlSeconds: number;
  renewedAt: number;
}

export interface ProbeKeyDeps {
  readonly clusterId: string;
  readonly logger: Logger;
  /** The full client of a member (the engine's, never handed to the feature). */
  readonly clientOf: (member: MemberHandle) => EtcdV3MemberClient;
  /** Members to send lease calls to, best first (leader, then the responsive ones). */
  readonly leaseMembers: () => readonly MemberHandle[];
  readonly onClose: (key: EngineProbeKey) => void;
  /** When the lease is due for renewal; default the real clock. */
  readonly clock?: Clock;
}

export class EngineProbeKey implements ProbeKey {
  readonly key: string;
  readonly #ttlSeconds: number;
  readonly #deps: ProbeKeyDeps;
  #lease: Lease | undefined;
  #closed = false;

  constructor(request: ProbeKeyRequest, deps: ProbeKeyDeps) {
    const problem = probeKeyRequestProblem(request);
    if (problem !== undefined) throw new OptionsError(problem);
    // 64 random bits: never the name of a key that exists, so no write can overwrite one.
    this.key = `${request.prefix}${randomBytes(8).toString('hex')}`;
    this.#ttlSeconds = request.ttlSeconds;
    this.#deps = deps;
  }

  async keepAlive(signal: AbortSignal): Promise<void> {
    this.#assertOpen();
    const lease = this.#lease;
    const now = (this.#deps.clock ?? realClock).now();
    if (lease !== undefined && now - lease.renewedAt < (lease.ttlSeconds * 1000) / 3) return;
    if (lease !== undefined) {
      const renewed = await this.#onAnyMember('LeaseKeepAlive', (c) =>
        c.leaseKeepAliveOnce(lease.id, { signal }),
      );
      if (renewed.ttlSeconds > 0) {
        lease.renewedAt = now;
        return;
      }
      // Expired (the monitor stalled past the TTL, or the cluster lost it): the key went with it.
      this.#lease = undefined;
    }
    const granted = await this.#onAnyMember('LeaseGrant', (c) => c.leaseGrant(this.#ttlSeconds, { signal }));
    if (this.#closed) {
      // Closed while granting: nothing may outlive close().
      await this.#revoke(granted.id);
      return;
    }
    this.#lease = { id: granted.id, ttlSeconds: granted.ttlSeconds, renewedAt: now };
  }

  async write(member: MemberHandle, value: string, signal: AbortSignal): Promise<void> {
    this.#assertOpen();
    if (Buffer.byteLength(value) > PROBE_VALUE_MAX_BYTES)
      throw new Error(`probe value longer than ${PROBE_VALUE_MAX_BYTES} bytes`);
    const lease = this.#lease;
    if (lease === undefined) throw new Error(`probe key ${this.key} has no lease yet (keepAlive first)`);
    try {
      await this.#deps.clientOf(member).put(this.key, value, { signal, lease: lease.id });
    } catch (err) {
      // "requested lease not found": renew (re-grant) at the next keepAlive whatever its age.
      if (/lease not found/i.test(errorMessage(err))) lease.renewedAt = Number.NEGATIVE_INFINITY;
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#deps.onClose(this);
    const lease = this.#lease;
    this.#lease = undefined;
    if (lease !== undefined) await this.#revoke(lease.id);
  }

  async #revoke(id: bigint): Promise<void> {
    try {
      await this.#onAnyMember('LeaseRevoke', (c) => c.leaseRevoke(id));
    } catch (err) {
      const text = errorMessage(err);
      if (/lease not found/i.test(text)) return;
      this.#deps.logger.warn(
        { cluster: this.#deps.clusterId, key: this.key, err: text, ttlSeconds: this.#ttlSeconds },
        'probe key: could not revoke its lease; etcd deletes the key when the lease expires',
      );
    }
  }

  /** A lease call on the first member that answers. */
  async #onAnyMember<T>(call: string, ask: (client: EtcdV3MemberClient) => Promise<T>): Promise<T> {
    const errors: string[] = [];
    for (const member of this.#deps.leaseMembers()) {
      if (member.endpoint === undefined) continue;
      try {
        return await ask(this.#deps.clientOf(member));
      } catch (err) {
        // The caller gave up: asking the next member would outlive its round.
        if (err instanceof EtcdError && err.code === 'canceled') throw err;
        errors.push(errorMessage(err));
      }
    }
    throw new Error(
      errors.length === 0
        ? `${call}: no member with a client URL`
        : `${call}: no member answered: ${errors.join('; ')}`,
    );
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`probe key ${this.key} is closed`);
  }
}
