/** The typed clients the controllers use, on one transport (one connection pool). */
import type { CoreEvent, Lease, Secret } from '../api/core.ts';
import type { EtcdCluster } from '../api/etcdcluster.ts';
import type { EtcdInspection } from '../api/etcdinspection.ts';
import {
  etcdClusterResource,
  etcdInspectionResource,
  eventResource,
  leaseResource,
  secretResource,
} from './resource.ts';
import type { RestConfig } from './kubeconfig.ts';
import { KubeTransport, type TransportOptions } from './transport.ts';
import { ResourceClient } from './typed.ts';

export interface Clients {
  readonly transport: KubeTransport;
  readonly etcdClusters: ResourceClient<EtcdCluster>;
  readonly etcdInspections: ResourceClient<EtcdInspection>;
  readonly secrets: ResourceClient<Secret>;
  readonly leases: ResourceClient<Lease>;
  readonly events: ResourceClient<CoreEvent>;
  /** Closes the connections (after the informers are stopped). */
  close(): Promise<void>;
}

export function createClients(config: RestConfig, opts: TransportOptions = {}): Clients {
  const transport = new KubeTransport(config, opts);
  return {
    transport,
    etcdClusters: new ResourceClient(transport, etcdClusterResource),
    etcdInspections: new ResourceClient(transport, etcdInspectionResource),
    secrets: new ResourceClient(transport, secretResource),
    leases: new ResourceClient(transport, leaseResource),
    events: new ResourceClient(transport, eventResource),
    close: () => transport.close(),
  };
}
