/**
 * Test-bed clusters and member clients owned by one test: stopped and closed
 * when the test ends (through `t.after`), so a failing assertion leaks no
 * etcd process or connection.
 */
import type { TestContext } from 'node:test';
import { parseEndpoint, type Endpoint } from '../../src/etcd/endpoint.ts';
import { createHttpMemberClient } from '../../src/etcd/http/client.ts';
import type { ClientOptions } from '../../src/etcd/types.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import {
  startEtcdCluster,
  type EtcdVersion,
  type StartClusterOptions,
  type TestCluster,
} from '../../src/testbed/index.ts';
import { clientOptionsFor } from './specs.ts';

/** A backend quota small enough that a few 256 KiB puts raise etcd's NOSPACE alarm. */
export const SMALL_QUOTA_BYTES = 2 * 1024 * 1024;

/** A one-member cluster with SMALL_QUOTA_BYTES, to fill up to NOSPACE; the caller stops it (`await using`). */
export function smallQuotaCluster(version: EtcdVersion, name: string): Promise<TestCluster> {
  return startEtcdCluster({ version, members: 1, name, quotaBackendBytes: SMALL_QUOTA_BYTES });
}

/** Starts a test-bed cluster that is stopped when test `t` ends. */
export async function clusterForTest(t: TestContext, opts: StartClusterOptions): Promise<TestCluster> {
  const cluster = await startEtcdCluster(opts);
  t.after(() => cluster.stop());
  return cluster;
}

/** A client made by `create` on the cluster's first member, as root, closed when test `t` ends. */
function firstMemberClient<C extends { close(): unknown }>(
  t: TestContext,
  cluster: TestCluster,
  create: (endpoint: Endpoint, options: ClientOptions) => C,
  overrides: Partial<ClientOptions>,
): C {
  const client = create(parseEndpoint(cluster.endpoints[0] as string), clientOptionsFor(cluster, overrides));
  t.after(() => client.close());
  return client;
}

/** A v3 (gRPC) client on the cluster's first member, as root, closed when test `t` ends. */
export const v3ClientFor = (t: TestContext, cluster: TestCluster, overrides: Partial<ClientOptions> = {}) =>
  firstMemberClient(t, cluster, createV3MemberClient, overrides);

/** An HTTP client (health, metrics, v2) on the cluster's first member, closed when test `t` ends. */
export const httpClientFor = (t: TestContext, cluster: TestCluster, overrides: Partial<ClientOptions> = {}) =>
  firstMemberClient(t, cluster, createHttpMemberClient, overrides);
