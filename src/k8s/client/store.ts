/**
 * The informer's cache and the listers that read it (lister-gen's
 * equivalent). Objects enter deep-frozen and typed DeepReadonly: a controller
 * that tries to change a cached object fails to compile, and would throw at
 * run time (ES modules are strict). Copy (structuredClone) before changing.
 */
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
  readonly size: number;
}

export class Store<T extends KubeObjectLike> implements Lister<T> {
  readonly #items = new Map<string, DeepReadonly<T>>();
  readonly #byNamespace = new Map<string, Set<string>>();
  readonly #indexers: ReadonlyMap<string, IndexFunc<T>>;
  /** index name → value → keys */
  readonly #indexes = new Map<string, Map<string, Set<string>>>();

  constructor(indexers: Readonly<Record<string, IndexFunc<T>>> = {}) {
    this.#indexers = new Map(Object.entries(indexers));
    for (const name of this.#indexers.keys()) this.#indexes.set(name, new Map());
  }

  get size(): number {
    return this.#items.size;
  }

  getByKey(key: string): DeepReadonly<T> | undefined {
    return this.#items.get(key);
  }

  get(namespace: string | undefined, name: string): DeepReadonly<T> | undefined {
    return this.#items.get(namespace !== undefined && namespace !== '' ? `${namespace}/${name}` : name);
  }

  list(namespace?: string, selector?: string | LabelSelector): DeepReadonly<T>[] {
    const parsed = typeof selector === 'string' ? parseLabelSelector(selector) : selector;
    const keys =
      namespace === undefined
        ? this.#items.keys()
        : (this.#byNamespace.get(namespace) ?? new Set<string>()).values();
    const out: DeepReadonly<T>[] = [];
    for (const key of keys) {
      const obj = this.#items.get(key);
      if (obj === undefined) continue;
      if (parsed !== undefined && !matchesSelector(parsed, obj.metadata.labels ?? {})) continue;
      out.push(obj);
    }
    return out;
  }

  byIndex(index: string, value: string): DeepReadonly<T>[] {
    const values = this.#indexes.get(index);
    if (values === undefined)
      throw new Error(`no index "${index}" (known: ${[...this.#indexers.keys()].join(', ') || 'none'})`);
    return [...(values.get(value) ?? [])]
      .map((k) => this.#items.get(k))
      .filter((o): o is DeepReadonly<T> => o !== undefined);
  }

  keys(): string[] {
    return [...this.#items.keys()];
  }

  /** Freezes and files the object; returns the previous version, if any. */
  put(obj: T): { key: string; previous: DeepReadonly<T> | undefined; current: DeepReadonly<T> } {
    const current = deepFreeze(obj);
    const key = keyOf(current);
    const previous = this.#items.get(key);
    if (previous !== undefined) this.#unindex(key, previous);
    this.#items.set(key, current);
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
    const previous = this.#items.get(key);
    if (previous === undefined) return undefined;
    this.#unindex(key, previous);
    this.#items.delete(key);
    return previous;
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
