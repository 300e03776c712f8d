/**
 * ClusterSpecs for tests, built as an adapter builds them: the feature
 * requests checked by the registry (which throws on a bad one).
 */
import { parseEndpoint } from '../etcd/endpoint.ts';
import type { FeatureRequest, FeatureSpec, StorageBackend } from '../engine/contract.ts';
import type { ClusterSpec } from '../engine/cluster-spec.ts';
import { featureRegistry } from '../features/index.ts';

export function featureSpecs(
  requests: Readonly<Record<string, FeatureRequest>>,
  backend: StorageBackend = 'v3',
): Record<string, FeatureSpec> {
  return Object.fromEntries(
    Object.entries(requests).map(([name, request]) => [name, featureRegistry.enable(name, request, backend)]),
  );
}

/** A v3 cluster at these endpoints that discovers its members; 1 s client deadlines unless `extra` says otherwise. */
export function testSpec(
  id: string,
  endpoints: readonly string[],
  features: Readonly<Record<string, FeatureRequest>>,
  extra: Partial<Omit<ClusterSpec, 'features'>> = {},
): ClusterSpec {
  return {
    id,
    name: id,
    endpoints: endpoints.map((e) => parseEndpoint(e)),
    storageBackend: 'v3',
    discoverMembers: true,
    client: { dialTimeoutMs: 1000, requestTimeoutMs: 1000 },
    ...extra,
    features: featureSpecs(features, extra.storageBackend ?? 'v3'),
  };
}
