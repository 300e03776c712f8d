import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { Secret } from '../../src/etcd/secret.ts';
import type { ClientOptions } from '../../src/etcd/types.ts';
import type { ClusterSpec, FeatureSpec } from '../../src/engine/spec.ts';
import type { TestCluster } from '../../src/testbed/index.ts';

/** Client settings for a test-bed cluster: its CA, client certificate and root credentials. */
export function clientOptionsFor(
  cluster: TestCluster,
  overrides: Partial<ClientOptions> = {},
): ClientOptions {
  return {
    dialTimeoutMs: 2000,
    requestTimeoutMs: 2000,
    ...(cluster.tls !== undefined
      ? { tls: { ca: cluster.tls.ca, cert: cluster.tls.cert, key: new Secret(cluster.tls.key) } }
      : {}),
    ...(cluster.auth !== undefined
      ? { auth: { username: cluster.auth.username, password: new Secret(cluster.auth.password) } }
      : {}),
    ...overrides,
  };
}

export function every(intervalSeconds: number, options?: Record<string, unknown>): FeatureSpec {
  return { enabled: true, intervalSeconds, ...(options !== undefined ? { options } : {}) };
}

export function specFor(
  id: string,
  cluster: TestCluster,
  features: Record<string, FeatureSpec>,
  extra: Partial<ClusterSpec> = {},
): ClusterSpec {
  return {
    id,
    name: id,
    endpoints: cluster.endpoints.map((e) => parseEndpoint(e)),
    storageBackend: 'v3',
    discoverMembers: true,
    client: clientOptionsFor(cluster),
    features,
    ...extra,
  };
}

/** host:port of a test-bed member: the endpoint label. */
export function hostPort(url: string): string {
  return parseEndpoint(url).hostPort;
}
