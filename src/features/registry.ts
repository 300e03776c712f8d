import { Registry } from '../registry.ts';
import type { Feature } from '../engine/contract.ts';

/**
 * Features register a factory by name; the registry builds each feature at
 * most once and hands out that instance from then on.
 */
export class FeatureRegistry extends Registry<Feature> {
  constructor() {
    super('feature', (feature) => feature.name);
  }
}

/** The process-wide registry that the built-in features register into (src/features/index.ts). */
export const featureRegistry = new FeatureRegistry();
