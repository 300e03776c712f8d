/**
 * The state of the request watch, derived, never stored: each prefix has
 * its own stream state (a small state machine driven by the watch loop),
 * and the session's state is computed from the prefixes and from where the
 * loop is. With two prefixes, one re-counting after a compaction while the
 * other watches reads "counting", whichever prefix moved last.
 */

/** One prefix's stream, within one attempt on one member. */
export type StreamState = 'idle' | 'counting' | 'connecting' | 'watching';

/** Where the session's loop is, between and during attempts. */
export type LoopState = 'starting' | 'attempting' | 'backoff' | 'closed';

export type WatchState = 'starting' | 'counting' | 'connecting' | 'watching' | 'backoff' | 'closed';

/**
 * The transitions of one prefix's stream. Anything else is a bug in the
 * loop, so it throws rather than reporting a state that is not true.
 */
const TRANSITIONS: Readonly<Record<StreamState, readonly StreamState[]>> = {
  // An attempt starts with a count (first or after compaction) or goes straight to the watch.
  idle: ['counting', 'connecting', 'idle'],
  counting: ['connecting', 'idle'],
  // 'counting': the watch was refused as compacted, the prefix re-counts.
  connecting: ['watching', 'counting', 'idle'],
  watching: ['counting', 'connecting', 'idle'],
};

export class PrefixStream {
  #state: StreamState = 'idle';

  get state(): StreamState {
    return this.#state;
  }

  get watching(): boolean {
    return this.#state === 'watching';
  }

  to(next: StreamState): void {
    if (!TRANSITIONS[this.#state].includes(next))
      throw new Error(`request watch: no transition from ${this.#state} to ${next}`);
    this.#state = next;
  }
}

/** The session's state, from its loop and every prefix's stream. */
export function watchState(loop: LoopState, streams: readonly StreamState[]): WatchState {
  if (loop !== 'attempting') return loop;
  if (streams.some((s) => s === 'counting')) return 'counting';
  if (streams.length > 0 && streams.every((s) => s === 'watching')) return 'watching';
  return 'connecting';
}
