import type { Feature } from './feature.ts';

export type FeatureFactory = () => Feature;

export class UnknownFeatureError extends Error {
  override name = 'UnknownFeatureError';
}

/**
 * Features register a factory by name; the registry builds each feature at
 * most once and hands out that instance from then on.
 */
export class FeatureRegistry {
  readonly #factories = new Map<string, FeatureFactory>();
  readonly #instances = new Map<string, Feature>();

  register(name: string, factory: FeatureFactory): void {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) throw new Error(`invalid feature name "${name}"`);
    if (this.#factories.has(name)) throw new Error(`feature "${name}" is already registered`);
    this.#factories.set(name, factory);
  }

  has(name: string): boolean {
    return this.#factories.has(name);
  }

  names(): string[] {
    return [...this.#factories.keys()].sort();
  }

  get(name: string): Feature {
    const built = this.#instances.get(name);
    if (built !== undefined) return built;
    const factory = this.#factories.get(name);
    if (factory === undefined) {
      throw new UnknownFeatureError(`unknown feature "${name}" (known: ${this.names().join(', ')})`);
    }
    const feature = factory();
    if (feature.name !== name) throw new Error(`feature factory "${name}" built "${feature.name}"`);
    this.#instances.set(name, feature);
    return feature;
  }
}

/** The process-wide registry that the built-in features register into (src/features/index.ts). */
export const featureRegistry = new FeatureRegistry();
