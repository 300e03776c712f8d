import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { ClusterSnapshot, SnapshotStore } from '../engine/snapshot.ts';
import type { InspectionCollector } from '../metrics/collector.ts';

/** Longest stretch one render keeps the event loop before letting probes and rounds run. */
const SLICE_MS = 4;

export class ScrapeAbandoned extends Error {
  override name = 'ScrapeAbandoned';
}

/**
 * The inspection part of /metrics, rendered once per change of the snapshot
 * store and shared by every scrape. A scrape sees every result recorded
 * before it arrived: it takes the last rendering if nothing changed since,
 * joins the render in progress if that one started after its arrival, or
 * waits for the next. Clusters whose snapshot did not change reuse their
 * text (snapshots are immutable: the object is the version), and a render
 * yields to the event loop every few milliseconds, so a thousand clusters
 * never block probes or inspection rounds. A render nobody waits for any
 * more (every client gone) stops.
 */
export class ScrapeCache {
  readonly #store: SnapshotStore;
  readonly #collector: InspectionCollector;
  readonly #texts = new WeakMap<ClusterSnapshot, ReadonlyMap<string, string>>();
  readonly #unsubscribe: () => void;
  #version = 0;
  #rendered: { readonly version: number; readonly body: Buffer } | undefined;
  #inflight: { readonly version: number; readonly done: Promise<Buffer> } | undefined;
  #waiters = 0;
  #renders = 0;

  constructor(store: SnapshotStore, collector: InspectionCollector) {
    this.#store = store;
    this.#collector = collector;
    this.#unsubscribe = store.subscribe(() => {
      this.#version++;
    });
  }

  /** Renders done so far (the monitor's own metric: scrapes per render shows the sharing). */
  get renders(): number {
    return this.#renders;
  }

  close(): void {
    this.#unsubscribe();
  }

  /** The exposition of every cluster as of now; rejects with ScrapeAbandoned when `signal` aborts first. */
  async get(signal: AbortSignal): Promise<Buffer> {
    const wanted = this.#version;
    for (;;) {
      const rendered = this.#rendered;
      if (rendered !== undefined && rendered.version >= wanted) return rendered.body;
      if (signal.aborted) throw new ScrapeAbandoned('the client went away');
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
        if (signal.aborted) throw new ScrapeAbandoned('the client went away');
        if (!(err instanceof ScrapeAbandoned)) throw err;
      } finally {
        this.#waiters--;
      }
    }
  }

  async #render(version: number): Promise<Buffer> {
    this.#renders++;
    const clusters = this.#store.list();
    const pieces: ReadonlyMap<string, string>[] = [];
    let slice = performance.now();
    for (const cluster of clusters) {
      let text = this.#texts.get(cluster);
      if (text === undefined) {
        text = this.#collector.clusterText(cluster);
        this.#texts.set(cluster, text);
      }
      pieces.push(text);
      if (performance.now() - slice > SLICE_MS) {
        await yieldToLoop();
        if (this.#waiters === 0) throw new ScrapeAbandoned('every client went away');
        slice = performance.now();
      }
    }
    const parts: string[] = [];
    for (const family of this.#collector.families) {
      let header = false;
      for (const piece of pieces) {
        const text = piece.get(family.name);
        if (text === undefined) continue;
        if (!header) parts.push(family.header);
        header = true;
        parts.push(text);
      }
    }
    // One Buffer shared by every response: no per-scrape copy of a large exposition.
    const body = Buffer.from(parts.join(''));
    if (this.#rendered === undefined || this.#rendered.version < version) this.#rendered = { version, body };
    return body;
  }
}

function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new ScrapeAbandoned('the client went away'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new ScrapeAbandoned('the client went away'));
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
