/**
 * Who may inspect a cluster right now, from what each replica of a shard
 * group has published (pure: no API, no clock; src/k8s/shard-membership.ts
 * feeds it).
 *
 * Each replica publishes, on its own Lease, the member list it acts on (its
 * "view"). A replica CLAIMS the clusters it would own under its published
 * view; it runs only clusters it claims, so its claims are always a superset
 * of what it runs: it narrows what it runs before it publishes a narrower
 * view, and starts a cluster only once its own wider view is published and
 * seen back. A replica runs a cluster when
 *   1. it owns the cluster under the view it acts on now,
 *   2. it claims the cluster in its published view as seen back from the API, and
 *   3. no other member of that view claims it in theirs.
 * So a cluster never runs on two replicas that see each other: the one that
 * gives a cluster away stops it before publishing the view that releases
 * it, and the one that takes it over waits for that view. The watch delivers
 * Lease writes in resourceVersion order, so of two replicas that publish
 * conflicting claims, the second to write sees the first's claim by the
 * time it sees its own write, and yields.
 */
import { ownerOf } from '../engine/shard.ts';

export interface ShardPeer {
  readonly member: string;
  /** The view this peer last published (undefined: none yet; it claims nothing). */
  readonly published: readonly string[] | undefined;
}

export class ShardView {
  /** The members this replica acts on now (sorted; empty while it may not act). */
  readonly acting: readonly string[];
  readonly #me: string;
  readonly #mine: readonly string[] | undefined;
  readonly #peers: readonly ShardPeer[];
  readonly #memo = new Map<string, boolean>();

  /**
   * @param me this replica
   * @param acting the live members this replica acts on (itself included), or [] when it may not act
   * @param mine this replica's published view as seen back from the API
   * @param peers the other live members and their published views
   */
  constructor(
    me: string,
    acting: readonly string[],
    mine: readonly string[] | undefined,
    peers: readonly ShardPeer[],
  ) {
    this.#me = me;
    this.acting = acting;
    this.#mine = mine;
    const inView = new Set(acting);
    this.#peers = peers.filter((p) => p.member !== me && inView.has(p.member) && p.published !== undefined);
  }

  /** Whether this replica may run (and write for) the cluster with this key. */
  owns(key: string): boolean {
    const known = this.#memo.get(key);
    if (known !== undefined) return known;
    const result = this.#decide(key);
    this.#memo.set(key, result);
    return result;
  }

  /** Whether the key is ours under the view we act on, whatever the others claim (a hand-off pending). */
  assigned(key: string): boolean {
    return ownerOf(key, this.acting) === this.#me;
  }

  #decide(key: string): boolean {
    if (this.#mine === undefined || !this.assigned(key)) return false;
    if (ownerOf(key, this.#mine) !== this.#me) return false;
    return this.#peers.every((p) => ownerOf(key, p.published ?? []) !== p.member);
  }
}

/** A view as a stable string (sorted, JSON), for the annotation and comparisons. */
export function viewText(members: readonly string[]): string {
  return JSON.stringify([...new Set(members)].sort());
}

/** Parses a published view; undefined when absent or malformed (a malformed view claims nothing). */
export function parseView(text: string | undefined): string[] | undefined {
  if (text === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(text);
    if (Array.isArray(parsed) && parsed.every((m) => typeof m === 'string')) return parsed as string[];
  } catch {
    // fall through
  }
  return undefined;
}
