/**
 * Which replica inspects which cluster: rendezvous (highest random weight)
 * hashing of a cluster's key over the members of a shard group. Every
 * member computes the same owner from the same member list, with no
 * coordination; when a member joins or leaves, only the clusters it wins
 * or held move (about 1/N of them), unlike `hash mod N`, which moves
 * nearly all. Rendezvous rather than a ring: no virtual nodes to tune, an
 * even spread at 3–10 members, and the cost (one hash per member and
 * cluster) is nothing at 10,000 clusters.
 *
 * The engine knows nothing of Kubernetes: the operator's Lease-based
 * membership (src/k8s/shard-membership.ts) and the daemon's static
 * `--shard I --total-shards N` both answer through the Shard interface.
 */

/** FNV-1a over the UTF-16 code units of s, from a seed. */
function fnv1a(s: string, seed = 0x811c9dc5): number {
  let h = seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** MurmurHash3's finalizer: spreads every input bit over the output (FNV alone clusters similar keys). */
function fmix32(h: number): number {
  let x = h;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** The weight of a (member, key) pair; the highest weight owns the key. */
export function rendezvousWeight(member: string, key: string): number {
  return fmix32(fnv1a(key, fnv1a(member)) ^ fmix32(fnv1a(member, 0x9747b28c)));
}

/** The member that owns key among members (undefined when there is none). Ties go to the smaller name. */
export function ownerOf(key: string, members: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestWeight = -1;
  for (const m of members) {
    const w = rendezvousWeight(m, key);
    if (w > bestWeight || (w === bestWeight && best !== undefined && m < best)) {
      best = m;
      bestWeight = w;
    }
  }
  return best;
}

/**
 * What the engine's adapters ask before running a cluster. `key` is the
 * cluster's identity: the object's UID under Kubernetes, the configured name
 * for the daemon.
 */
export interface Shard {
  /** Whether this process should inspect (and write the results of) the cluster now. */
  owns(key: string): boolean;
  /** For logs and metrics: this process's place. */
  describe(): ShardInfo;
}

export interface ShardInfo {
  /** This member's name in the group. */
  readonly member: string;
  /** Members this process currently counts (itself included while it acts). */
  readonly members: number;
}

/** Everything is ours: one process, no sharding. */
export const WHOLE: Shard = {
  owns: () => true,
  describe: () => ({ member: '0', members: 1 }),
};

/**
 * A fixed split for the standalone daemon (`--shard I --total-shards N`):
 * shard I of N owns the clusters whose rendezvous winner among "0".."N-1"
 * is I. Changing N moves about 1/N of the clusters, as with live members.
 */
export class StaticShard implements Shard {
  readonly #index: string;
  readonly #members: readonly string[];

  constructor(index: number, total: number) {
    if (!Number.isInteger(total) || total < 1)
      throw new Error(`total shards must be a positive integer, got ${total}`);
    if (!Number.isInteger(index) || index < 0 || index >= total)
      throw new Error(
        `shard must be an integer from 0 to ${total - 1} (total shards ${total}), got ${index}`,
      );
    this.#index = String(index);
    this.#members = Array.from({ length: total }, (_, i) => String(i));
  }

  owns(key: string): boolean {
    return ownerOf(key, this.#members) === this.#index;
  }

  describe(): ShardInfo {
    return { member: this.#index, members: this.#members.length };
  }
}
