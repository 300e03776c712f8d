/**
 * Joins every cluster's parts into one exposition. The text format wants
 * each family's samples together under one HELP/TYPE header, so a
 * cluster's text cannot simply be appended: the answer interleaves ~60,000
 * pieces (1,000 clusters × their parts × their families). Each part keeps
 * its text as bytes per family (rendered once per result, see
 * InspectionCollector.clusterParts), so an exposition is two passes over
 * them — sizes, then copies into one Buffer at each family's place — with
 * no string joined, encoded or left for the garbage collector, whatever
 * changed since the last one.
 */

/** One part of a cluster (its membership or one feature): its samples as bytes, per family. */
export interface PartText {
  /** The families' indexes (in the assembly's family order). */
  readonly families: readonly number[];
  /** The sample lines of each of `families` (each line ending in a newline). */
  readonly bytes: readonly Buffer[];
}

export interface FamilyHeader {
  readonly name: string;
  /** `# HELP` and `# TYPE` lines, ending in a newline. */
  readonly header: string;
}

/**
 * The exposition as chunks to write one after the other (the server adds
 * its own process metrics as one more chunk instead of copying the whole).
 */
export interface Exposition {
  readonly chunks: readonly Buffer[];
  /** Bytes in all chunks (the Content-Length). */
  readonly length: number;
}

/** How many clusters a step handles before the driver may yield to the event loop. */
const STEP = 64;

/** Output buffers kept for reuse at most. */
const MAX_SPARE = 3;

/**
 * Output buffers, reused once the garbage collector has shown that nothing
 * (a response being written, the shared rendering, a socket's write queue)
 * still references the exposition written into one. A fresh 16 MiB
 * allocation per render is what made most of a render's time: page faults
 * and the full collections V8 runs when external memory keeps growing.
 * Without a collection in between, a new buffer is allocated, as before.
 */
class OutputBuffers {
  readonly #spare: Buffer[] = [];
  readonly #released = new FinalizationRegistry<Buffer>((whole) => {
    if (this.#spare.length < MAX_SPARE) this.#spare.push(whole);
  });

  /** `length` bytes to write into, valid for as long as the returned Buffer is referenced. */
  take(length: number): Buffer {
    // Reuse one big enough but not twice the size (the exposition shrank: let the big one go).
    const i = this.#spare.findIndex((b) => b.length >= length && b.length <= 2 * length);
    // Room to grow a little (a few more series next time) without a new buffer.
    const whole = i >= 0 ? this.#spare.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(Math.ceil(length * 1.125));
    const out = whole.subarray(0, length);
    // `whole` shares the memory but not the object: once `out` is unreachable, nobody reads it any more.
    this.#released.register(out, whole);
    return out;
  }
}

export class ExpositionAssembly {
  readonly #headers: readonly Buffer[];
  readonly #outputs = new OutputBuffers();

  constructor(families: readonly FamilyHeader[]) {
    this.#headers = families.map((f) => Buffer.from(f.header));
  }

  /** The exposition at once, as one Buffer (tests, one-off renders). */
  assemble(clusters: readonly (readonly PartText[])[]): Buffer {
    const steps = this.steps(clusters);
    for (;;) {
      const step = steps.next();
      if (step.done) return step.value.chunks[0] ?? Buffer.alloc(0);
    }
  }

  /**
   * The exposition in steps: the caller may yield to the event loop between
   * them. Families in the assembly's order, each under its header when it
   * has samples; within a family, cluster after cluster, each cluster's
   * parts in their order.
   */
  *steps(clusters: readonly (readonly PartText[])[]): Generator<void, Exposition, void> {
    const headers = this.#headers;
    const sizes = new Array<number>(headers.length).fill(0);
    for (let c = 0; c < clusters.length; c++) {
      if (c % STEP === STEP - 1) yield;
      for (const { families, bytes } of clusters[c]!)
        for (let i = 0; i < families.length; i++) sizes[families[i]!]! += bytes[i]!.length;
    }
    let length = 0;
    for (let f = 0; f < headers.length; f++) if (sizes[f]! > 0) length += headers[f]!.length + sizes[f]!;
    if (length === 0) return { chunks: [], length: 0 };
    // Every byte is written below.
    const out = this.#outputs.take(length);
    const cursors = new Array<number>(headers.length).fill(0);
    let offset = 0;
    for (let f = 0; f < headers.length; f++) {
      if (sizes[f] === 0) continue;
      offset += headers[f]!.copy(out, offset);
      cursors[f] = offset;
      offset += sizes[f]!;
    }
    for (let c = 0; c < clusters.length; c++) {
      if (c % STEP === STEP - 1) yield;
      for (const { families, bytes } of clusters[c]!) {
        for (let i = 0; i < families.length; i++) {
          // A whole Buffer into a Uint8Array: a memcpy, no object allocated (Buffer#copy of a range allocates a view).
          const f = families[i]!;
          out.set(bytes[i]!, cursors[f]);
          cursors[f]! += bytes[i]!.length;
        }
      }
    }
    return { chunks: [out], length };
  }
}
