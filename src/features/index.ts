/**
 * The built-in features, registered by name into the process-wide registry.
 * A new feature adds one line here.
 */
import { AlarmFeature } from './alarm/alarm.ts';
import { CertificatesFeature } from './certificates/certificates.ts';
import { ConsistencyFeature } from './consistency/consistency.ts';
import { HealthyFeature } from './healthy/healthy.ts';
import { QuotaFeature } from './quota/quota.ts';
import { featureRegistry, type FeatureRegistry } from './registry.ts';
import { RequestFeature } from './request/request.ts';
import { TopologyFeature } from './topology/topology.ts';

export const BUILTIN_FEATURES = {
  healthy: () => new HealthyFeature(),
  alarm: () => new AlarmFeature(),
  consistency: () => new ConsistencyFeature(),
  request: () => new RequestFeature(),
  quota: () => new QuotaFeature(),
  topology: () => new TopologyFeature(),
  certificates: () => new CertificatesFeature(),
} as const;

export function registerBuiltinFeatures(registry: FeatureRegistry): FeatureRegistry {
  for (const [name, factory] of Object.entries(BUILTIN_FEATURES)) registry.register(name, factory);
  return registry;
}

registerBuiltinFeatures(featureRegistry);

export { featureRegistry };
