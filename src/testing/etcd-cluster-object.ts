/**
 * An EtcdCluster custom resource as it comes from the API server, before
 * validation: the input of the validators and of the controllers' spec
 * building, which several unit tests feed with different specs.
 */

/** EtcdCluster `prod` in namespace `ops` (uid u1, generation 3) with the given spec and metadata fields. */
export function etcdClusterObject(
  spec: Record<string, unknown>,
  metadata: Record<string, unknown> = {},
): unknown {
  return {
    apiVersion: 'etcdmonitor.dev/v1alpha1',
    kind: 'EtcdCluster',
    metadata: { name: 'prod', namespace: 'ops', uid: 'u1', generation: 3, ...metadata },
    spec,
  };
}
