/**
 * A process-wide catalogue of named plugins (features, cluster providers).
 * Each registers a factory under its name; the registry builds an item on
 * first use and hands out that one instance from then on, so registering
 * costs nothing and a plugin that is never used is never built.
 */
export type Factory<T> = () => T;

/** A name the registry does not know; the message lists the names it does. */
export class UnknownNameError extends Error {
  override name = 'UnknownNameError';
}

export class Registry<T> {
  /** What the items are, for messages: "feature", "cluster provider". */
  readonly kind: string;
  readonly #nameOf: (item: T) => string;
  readonly #factories = new Map<string, Factory<T>>();
  readonly #instances = new Map<string, T>();

  /** nameOf reads the name an item gives itself, checked against the name it was registered under. */
  constructor(kind: string, nameOf: (item: T) => string) {
    this.kind = kind;
    this.#nameOf = nameOf;
  }

  register(name: string, factory: Factory<T>): void {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) {
      throw new Error(`invalid ${this.kind} name "${name}": lower-case letters, digits and "-"`);
    }
    if (this.#factories.has(name)) throw new Error(`${this.kind} "${name}" is already registered`);
    this.#factories.set(name, factory);
  }

  has(name: string): boolean {
    return this.#factories.has(name);
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#factories.keys()].sort();
  }

  /** The item registered under name, or undefined. */
  find(name: string): T | undefined {
    const built = this.#instances.get(name);
    if (built !== undefined) return built;
    const factory = this.#factories.get(name);
    if (factory === undefined) return undefined;
    const item = factory();
    const own = this.#nameOf(item);
    if (own !== name) throw new Error(`${this.kind} factory "${name}" built "${own}"`);
    this.#instances.set(name, item);
    return item;
  }

  /** The item registered under name; throws UnknownNameError naming the known ones. */
  get(name: string): T {
    const item = this.find(name);
    if (item === undefined) throw new UnknownNameError(this.unknown(name));
    return item;
  }

  /** Every item, in name order (builds the ones not built yet). */
  list(): T[] {
    return this.names().map((name) => this.get(name));
  }

  /** The message for a name that is not registered: `unknown feature "x" (known: a, b)`. */
  unknown(name: string): string {
    return `unknown ${this.kind} "${name}" (known: ${this.names().join(', ')})`;
  }
}
