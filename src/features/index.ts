/**
 * The built-in features, registered by name into the process-wide registry.
 * A new feature adds one line here and one in defaults.ts (the compiler
 * checks that both name the same features).
 */
import { alarmFeature } from './alarm/alarm.ts';
import { certificatesFeature } from './certificates/certificates.ts';
import { consistencyFeature } from './consistency/consistency.ts';
import type { BuiltinFeatureName } from './defaults.ts';
import { healthyFeature } from './healthy/healthy.ts';
import { latencyFeature } from './latency/latency.ts';
import { performanceFeature } from './performance/performance.ts';
import { quotaFeature } from './quota/quota.ts';
import type { Feature } from '../engine/contract.ts';
import { featureRegistry, type FeatureRegistry } from './registry.ts';
import { requestFeature } from './request/request.ts';
import { topologyFeature } from './topology/topology.ts';

export const BUILTIN_FEATURES = {
  healthy: () => healthyFeature,
  alarm: () => alarmFeature,
  consistency: () => consistencyFeature,
  request: () => requestFeature,
  quota: () => quotaFeature,
  topology: () => topologyFeature,
  certificates: () => certificatesFeature,
  performance: () => performanceFeature,
  latency: () => latencyFeature,
} as const satisfies Record<BuiltinFeatureName, () => Feature>;

export function registerBuiltinFeatures(registry: FeatureRegistry): FeatureRegistry {
  for (const [name, factory] of Object.entries(BUILTIN_FEATURES)) registry.register(name, factory);
  return registry;
}

registerBuiltinFeatures(featureRegistry);

export { featureRegistry };
