/**
 * The built-in cluster providers, registered by type into the process-wide
 * registry. A new provider adds one line here (and its type to CLUSTER_TYPES
 * in src/k8s/api/etcdcluster.ts, which the CRD admits).
 */
import { ImportedProvider } from './imported.ts';
import { ProviderRegistry } from './provider.ts';

export const BUILTIN_PROVIDERS = {
  imported: () => new ImportedProvider(),
} as const;

export function registerBuiltinProviders(registry: ProviderRegistry): ProviderRegistry {
  for (const [type, factory] of Object.entries(BUILTIN_PROVIDERS)) registry.register(type, factory);
  return registry;
}

export const providerRegistry = registerBuiltinProviders(new ProviderRegistry());

export {
  ProviderRegistry,
  type ClusterProvider,
  type ProviderCluster,
  type ProviderStatus,
} from './provider.ts';
export { ImportedProvider, importedStatus, memberHealthy } from './imported.ts';
