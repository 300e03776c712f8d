import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ClusterSnapshot, SnapshotStore } from '../engine/snapshot.ts';

/** Longest stretch one render keeps the event loop before letting probes and rounds run. */
const SLICE_MS = 4;

export class RenderAbandoned extends Error {
  override name = 'RenderAbandoned';
}

/**
 * What one view of the store (the /metrics text, the JSON API, the status
 * page) is made of: pieces per cluster, joined into a body `B` (one Buffer,
 * or a list of chunks written one after the other).
 */
export interface RenderPlan<P, B = Buffer> {
  /** One cluster's part; computed once per snapshot (snapshots are immutable: the object is the version). */
  piece(cluster: ClusterSnapshot): P;
  /** The clusters in the order the view shows them (default: the store's). */
  order?(clusters: ClusterSnapshot[]): ClusterSnapshot[];
  /**
   * The whole answer from the parts, no per-cluster rendering: at once, or
   * in steps (a generator; the render yields to the event loop between them).
   */
  assemble(pieces: readonly P[]): B | Generator<void, B, void>;
}

/**
 * One view of every cluster, rendered once per change of the snapshot store
 * and shared by every request. A request sees every result recorded before
 * it arrived: it takes the last rendering if nothing changed since, joins
 * the render in progress if that one started after its arrival, or waits for
 * the next. Clusters whose snapshot did not change reuse their piece, and a
 * render yields to the event loop every few milliseconds, so a thousand
 * clusters never block probes or inspection rounds. A render nobody waits
 * for any more (every client gone) stops.
 */
export class SharedRender<P, B = Buffer> {
  readonly #store: SnapshotStore;
  readonly #plan: RenderPlan<P, B>;
  readonly #pieces = new WeakMap<ClusterSnapshot, P>();
  readonly #unsubscribe: () => void;
  #version = 0;
  #rendered: { readonly version: number; readonly body: B } | undefined;
  #inflight: { readonly version: number; readonly done: Promise<B> } | undefined;
  #waiters = 0;
  #renders = 0;

  constructor(store: SnapshotStore, plan: RenderPlan<P, B>) {
    this.#store = store;
    this.#plan = plan;
    this.#unsubscribe = store.subscribe(() => {
      this.#version++;
    });
  }

  /** Renders done so far (the monitor's own metric: requests per render shows the sharing). */
  get renders(): number {
    return this.#renders;
  }

  close(): void {
    this.#unsubscribe();
  }

  /** One cluster's piece, from the cache when its snapshot did not change. */
  pieceOf(cluster: ClusterSnapshot): P {
    let piece = this.#pieces.get(cluster);
    if (piece === undefined) {
      piece = this.#plan.piece(cluster);
      this.#pieces.set(cluster, piece);
    }
    return piece;
  }

  /** The view of every cluster as of now; rejects with RenderAbandoned when `signal` aborts first. */
  async get(signal: AbortSignal): Promise<B> {
    const wanted = this.#version;
    for (;;) {
      const rendered = this.#rendered;
      if (rendered !== undefined && rendered.version >= wanted) return rendered.body;
      if (signal.aborted) throw new RenderAbandoned('the client went away');
      let inflight = this.#inflight;
      if (inflight === undefined) {
        const version = this.#version;
        const done = this.#render(version).finally(() => {
          if (this.#inflight?.done === done) this.#inflight = undefined;
        });
        inflight = { version, done };
        this.#inflight = inflight;
      }
      this.#waiters++;
      try {
        await abortable(inflight.done, signal);
      } catch (err) {
        // Our own abort ends the wait; a render abandoned by everyone else is retried by whoever still waits.
        if (signal.aborted) throw new RenderAbandoned('the client went away');
        if (!(err instanceof RenderAbandoned)) throw err;
      } finally {
        this.#waiters--;
      }
    }
  }

  async #render(version: number): Promise<B> {
    this.#renders++;
    const listed = this.#store.list();
    const clusters = this.#plan.order?.(listed) ?? listed;
    const pieces: P[] = [];
    let slice = performance.now();
    const pause = async (): Promise<void> => {
      if (performance.now() - slice <= SLICE_MS) return;
      await yieldToLoop();
      if (this.#waiters === 0) throw new RenderAbandoned('every client went away');
      slice = performance.now();
    };
    for (const cluster of clusters) {
      pieces.push(this.pieceOf(cluster));
      await pause();
    }
    // One body shared by every response: no per-request copy of a large answer.
    const body = await bodyOf(this.#plan.assemble(pieces), pause);
    if (this.#rendered === undefined || this.#rendered.version < version) this.#rendered = { version, body };
    return body;
  }
}

async function bodyOf<B>(assembled: B | Generator<void, B, void>, pause: () => Promise<void>): Promise<B> {
  if (!isGenerator(assembled)) return assembled;
  for (;;) {
    const step = assembled.next();
    if (step.done) return step.value;
    await pause();
  }
}

function isGenerator<B>(value: B | Generator<void, B, void>): value is Generator<void, B, void> {
  return Object.prototype.toString.call(value) === '[object Generator]';
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new RenderAbandoned('the client went away'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new RenderAbandoned('the client went away'));
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}
