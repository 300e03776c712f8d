/**
 * Clusters that become a replica's at once (its start, a peer that died,
 * joined or left) are given to the engine straight from the informer
 * caches, not once a controller worker reaches each key behind other syncs'
 * API writes: at 1 s per write on a loaded apiserver and 4 workers, a
 * hand-off of 2,000 clusters would leave them uninspected for minutes. Their
 * syncs (queued too) then write what must be written, at the API's pace.
 */

/**
 * After the shard moved: queues a sync of every key whose ownership
 * differs from what this process runs (gained or lost), and returns the
 * gained ones, to adopt.
 */
export function moved(
  keys: Iterable<string>,
  owns: (key: string) => boolean,
  runs: (key: string) => boolean,
  enqueue: (key: string) => void,
): string[] {
  const gained: string[] = [];
  for (const k of keys) {
    const owned = owns(k);
    if (owned === runs(k)) continue;
    if (owned) gained.push(k);
    enqueue(k);
  }
  return gained;
}

/** Clusters given to the engine per turn of the event loop. */
export const ADOPT_BATCH = 100;

/**
 * Runs adoption passes: each goes over its items a batch per turn of the
 * event loop (Lease renewals and the API keep being served while thousands
 * of clusters are given at once); a newer pass supersedes one still going,
 * and nothing runs after stop().
 */
export class Adoptions {
  #passes = 0;
  #stopped = false;

  /** Calls `adopt` on each item, ADOPT_BATCH per turn; resolves with how many it returned true for. */
  async run<T>(items: readonly T[], adopt: (item: T) => boolean): Promise<number> {
    const pass = ++this.#passes;
    let adopted = 0;
    for (let i = 0; i < items.length; i += ADOPT_BATCH) {
      if (i > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      if (pass !== this.#passes || this.#stopped) break;
      for (const item of items.slice(i, i + ADOPT_BATCH)) if (adopt(item)) adopted++;
    }
    return adopted;
  }

  stop(): void {
    this.#stopped = true;
  }
}
