import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { Secret } from '../../src/etcd/secret.ts';
import type { ClientOptions } from '../../src/etcd/types.ts';
import type { FeatureRequest } from '../../src/engine/contract.ts';
import type { ClusterSpec } from '../../src/engine/cluster-spec.ts';
import { testSpec } from '../../src/testing/cluster-spec.ts';
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

export function every(intervalSeconds: number, options?: Record<string, unknown>): FeatureRequest {
  return { intervalSeconds, ...(options !== undefined ? { options } : {}) };
}

/** The requests checked by the process's registry, as an adapter would: a bad request throws. */
export { featureSpecs } from '../../src/testing/cluster-spec.ts';

export function specFor(
  id: string,
  cluster: TestCluster,
  features: Record<string, FeatureRequest>,
  extra: Partial<Omit<ClusterSpec, 'features'>> = {},
): ClusterSpec {
  return testSpec(id, cluster.endpoints, features, { client: clientOptionsFor(cluster), ...extra });
}

/** host:port of a test-bed member: the endpoint label. */
export function hostPort(url: string): string {
  return parseEndpoint(url).hostPort;
}
