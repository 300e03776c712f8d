/**
 * The informer's cache and the listers that read it (lister-gen's
 * equivalent). Objects enter deep-frozen and typed DeepReadonly: a controller
 * that tries to change a cached object fails to compile, and would throw at
 * run time (ES modules are strict). Copy (structuredClone) before changing.
 *
 * With a retention policy, objects the process does not act on (another
 * shard's) are kept packed: their JSON text deflated against an earlier
 * packed object of the store as a preset dictionary (objects of one kind
 * differ in a few names, UIDs and times: ~100 bytes for an 800-byte
 * EtcdInspection or a 2.6 KB EtcdCluster, where the parsed, frozen object
 * takes several kilobytes). An object that packs poorly against the
 * current dictionary (objects listed before their status was written, then
 * updated with one) becomes the next dictionary; a few are kept. Every read still returns
 * the whole object (a packed one is parsed on the spot), so what a lister
 * answers never depends on the policy: only what it costs does. retain()
 * re-packs and unpacks when the policy's answers change (a shard moved);
 * unpacking reads the stored text, not the API.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { keyOf, type KubeObjectLike } from './resource.ts';
import { matchesSelector, parseLabelSelector, type LabelSelector } from './selector.ts';

export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends readonly (infer U)[]
    ? readonly DeepReadonly<U>[]
    : T extends object
      ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
      : T;

/** Freezes an object and everything it holds; returns it, typed read-only. */
export function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  }
  return value as DeepReadonly<T>;
}

/** Index functions: object → the index values it is filed under (e.g. the Secrets it references). */
export type IndexFunc<T> = (obj: DeepReadonly<T>) => readonly string[];

/** Read access to an informer's cache. Never a copy: the frozen cached objects themselves. */
export interface Lister<T extends KubeObjectLike> {
  /** The object namespace/name (name alone for cluster-scoped resources). */
  get(namespace: string | undefined, name: string): DeepReadonly<T> | undefined;
  /** All objects, or those of one namespace, optionally matching a label selector (text or parsed). */
  list(namespace?: string, selector?: string | LabelSelector): DeepReadonly<T>[];
  /** Objects filed under `value` by the indexer `index`. */
  byIndex(index: string, value: string): DeepReadonly<T>[];
  /** Keys (namespace/name) of every cached object. */
  keys(): string[];
  /** Every value the indexer `index` filed an object under (client-go's ListIndexFuncValues); parses nothing. */
  indexValues(index: string): string[];
  readonly size: number;
}

/**
 * Which objects a store keeps whole. Each object gets a tag when stored (e.g.
 * the UID of the EtcdCluster it belongs to); `whole(tag)` says whether
 * objects with that tag are kept parsed. It may change its answers: the
 * store's retain() applies them.
 */
export interface Retention<T> {
  tag(obj: DeepReadonly<T>): string;
  whole(tag: string): boolean;
}

/** An object kept as its deflated JSON text, with what the store needs without parsing it. */
class Packed {
  /** The deflated bytes, one per character (a one-byte string: on the heap, no buffer of its own). */
  readonly bytes: string;
  /** Which of the store's dictionaries it was deflated against. */
  readonly dictionary: number;
  readonly resourceVersion: string | undefined;
  readonly tag: string;

  constructor(bytes: string, dictionary: number, resourceVersion: string | undefined, tag: string) {
    this.bytes = bytes;
    this.dictionary = dictionary;
    this.resourceVersion = resourceVersion;
    this.tag = tag;
  }
}

export interface RetentionStats {
  /** Objects kept parsed. */
  readonly whole: number;
  /** Objects kept packed. */
  readonly packed: number;
  /** Bytes the packed objects take (deflated JSON). */
  readonly packedBytes: number;
}

/** Dictionaries a store keeps at most (each an object's JSON, kept for as long as the store). */
const MAX_DICTIONARIES = 4;

export class Store<T extends KubeObjectLike> implements Lister<T> {
  readonly #items = new Map<string, DeepReadonly<T> | Packed>();
  readonly #byNamespace = new Map<string, Set<string>>();
  readonly #indexers: ReadonlyMap<string, IndexFunc<T>>;
  /** index name → value → keys */
  readonly #indexes = new Map<string, Map<string, Set<string>>>();
  readonly #retention: Retention<T> | undefined;
  #packed = 0;
  #packedBytes = 0;
  /** Preset dictionaries for packing: earlier objects' JSON; the last one is current. */
  readonly #dictionaries: Buffer[] = [];

  constructor(indexers: Readonly<Record<string, IndexFunc<T>>> = {}, retention?: Retention<T>) {
    this.#indexers = new Map(Object.entries(indexers));
    for (const name of this.#indexers.keys()) this.#indexes.set(name, new Map());
    this.#retention = retention;
  }

  get size(): number {
    return this.#items.size;
  }

  getByKey(key: string): DeepReadonly<T> | undefined {
    return this.#whole(this.#items.get(key));
  }

  get(namespace: string | undefined, name: string): DeepReadonly<T> | undefined {
    return this.getByKey(namespace !== undefined && namespace !== '' ? `${namespace}/${name}` : name);
  }

  has(key: string): boolean {
    return this.#items.has(key);
  }

  /** The object's resourceVersion, without parsing a packed object. */
  resourceVersionOf(key: string): string | undefined {
    const entry = this.#items.get(key);
    return entry instanceof Packed ? entry.resourceVersion : entry?.metadata.resourceVersion;
  }

  /** The object's retention tag (undefined without a policy, or when absent), without parsing it. */
  tagOf(key: string): string | undefined {
    const entry = this.#items.get(key);
    if (entry === undefined || this.#retention === undefined) return undefined;
    return entry instanceof Packed ? entry.tag : this.#retention.tag(entry);
  }

  list(namespace?: string, selector?: string | LabelSelector): DeepReadonly<T>[] {
    const parsed = typeof selector === 'string' ? parseLabelSelector(selector) : selector;
    const keys =
      namespace === undefined
        ? this.#items.keys()
        : (this.#byNamespace.get(namespace) ?? new Set<string>()).values();
    const out: DeepReadonly<T>[] = [];
    for (const key of keys) {
      const obj = this.getByKey(key);
      if (obj === undefined) continue;
      if (parsed !== undefined && !matchesSelector(parsed, obj.metadata.labels ?? {})) continue;
      out.push(obj);
    }
    return out;
  }

  /** The objects kept whole (all of them without a retention policy); packed ones are not parsed. */
  listWhole(): DeepReadonly<T>[] {
    const out: DeepReadonly<T>[] = [];
    for (const entry of this.#items.values()) if (!(entry instanceof Packed)) out.push(entry);
    return out;
  }

  byIndex(index: string, value: string): DeepReadonly<T>[] {
    return this.#indexKeys(index, value)
      .map((k) => this.getByKey(k))
      .filter((o): o is DeepReadonly<T> => o !== undefined);
  }

  indexValues(index: string): string[] {
    return [...this.#index(index).keys()];
  }

  #indexKeys(index: string, value: string): string[] {
    return [...(this.#index(index).get(value) ?? [])];
  }

  #index(index: string): Map<string, Set<string>> {
    const values = this.#indexes.get(index);
    if (values === undefined)
      throw new Error(`no index "${index}" (known: ${[...this.#indexers.keys()].join(', ') || 'none'})`);
    return values;
  }

  keys(): string[] {
    return [...this.#items.keys()];
  }

  retentionStats(): RetentionStats {
    return { whole: this.#items.size - this.#packed, packed: this.#packed, packedBytes: this.#packedBytes };
  }

  /**
   * Freezes and files the object (packed when the retention policy says so);
   * returns it and the previous version, if any, both whole.
   */
  put(obj: T): { key: string; previous: DeepReadonly<T> | undefined; current: DeepReadonly<T> } {
    const current = deepFreeze(obj);
    const key = keyOf(current);
    const previous = this.#whole(this.#items.get(key));
    if (previous !== undefined) this.#unindex(key, previous);
    this.#set(key, this.#entryFor(current));
    const ns = current.metadata.namespace ?? '';
    const set = this.#byNamespace.get(ns) ?? new Set<string>();
    this.#byNamespace.set(ns, set);
    set.add(key);
    for (const [name, fn] of this.#indexers) {
      const values = this.#indexes.get(name)!;
      for (const value of fn(current)) {
        const keys = values.get(value) ?? new Set<string>();
        values.set(value, keys);
        keys.add(key);
      }
    }
    return { key, previous, current };
  }

  delete(key: string): DeepReadonly<T> | undefined {
    const previous = this.#whole(this.#items.get(key));
    if (previous === undefined) return undefined;
    this.#unindex(key, previous);
    this.#set(key, undefined);
    return previous;
  }

  /**
   * Applies the retention policy's current answers: packs the objects it no
   * longer keeps whole, parses back those it now keeps. Returns how many
   * moved each way.
   */
  retain(): { packed: number; unpacked: number } {
    let packed = 0;
    let unpacked = 0;
    const retention = this.#retention;
    if (retention === undefined) return { packed, unpacked };
    for (const [key, entry] of this.#items) {
      if (entry instanceof Packed) {
        if (!retention.whole(entry.tag)) continue;
        this.#set(key, this.#unpack(entry));
        unpacked++;
      } else {
        const tag = retention.tag(entry);
        if (retention.whole(tag)) continue;
        this.#set(key, this.#pack(entry, tag));
        packed++;
      }
    }
    return { packed, unpacked };
  }

  #entryFor(obj: DeepReadonly<T>): DeepReadonly<T> | Packed {
    if (this.#retention === undefined) return obj;
    const tag = this.#retention.tag(obj);
    return this.#retention.whole(tag) ? obj : this.#pack(obj, tag);
  }

  #pack(obj: DeepReadonly<T>, tag: string): Packed {
    const json = Buffer.from(JSON.stringify(obj));
    let index = this.#dictionaries.length - 1;
    let bytes = index < 0 ? undefined : deflateRawSync(json, { dictionary: this.#dictionaries[index]! });
    // Objects of one kind share most of their text with an earlier one (a sibling of the same shape
    // leaves ~4% of it); one that leaves more than a tenth (the first, or one whose status appeared
    // since the dictionary was taken) becomes the dictionary of the next ones.
    if (bytes === undefined || (bytes.length > json.length / 10 && index < MAX_DICTIONARIES - 1)) {
      this.#dictionaries.push(json);
      index++;
      bytes = deflateRawSync(json, { dictionary: json });
    }
    return new Packed(bytes.toString('latin1'), index, obj.metadata.resourceVersion, tag);
  }

  #unpack(entry: Packed): DeepReadonly<T> {
    const json = inflateRawSync(Buffer.from(entry.bytes, 'latin1'), {
      dictionary: this.#dictionaries[entry.dictionary]!,
    });
    // Written by #pack from an object that was checked against its schema when it came from the API.
    return deepFreeze(JSON.parse(json.toString()) as T);
  }

  #whole(entry: DeepReadonly<T> | Packed | undefined): DeepReadonly<T> | undefined {
    return entry instanceof Packed ? this.#unpack(entry) : entry;
  }

  /** Replaces (or with undefined removes) an entry, keeping the packed counts. */
  #set(key: string, entry: DeepReadonly<T> | Packed | undefined): void {
    const before = this.#items.get(key);
    if (before instanceof Packed) {
      this.#packed--;
      this.#packedBytes -= before.bytes.length;
    }
    if (entry === undefined) {
      this.#items.delete(key);
      return;
    }
    if (entry instanceof Packed) {
      this.#packed++;
      this.#packedBytes += entry.bytes.length;
    }
    this.#items.set(key, entry);
  }

  #unindex(key: string, obj: DeepReadonly<T>): void {
    const ns = obj.metadata.namespace ?? '';
    const set = this.#byNamespace.get(ns);
    set?.delete(key);
    if (set?.size === 0) this.#byNamespace.delete(ns);
    for (const [name, fn] of this.#indexers) {
      const values = this.#indexes.get(name)!;
      for (const value of fn(obj)) {
        const keys = values.get(value);
        keys?.delete(key);
        if (keys?.size === 0) values.delete(value);
      }
    }
  }
}
