import type { EtcdV3MemberClient } from '../etcd/types.ts';

const NAMESPACES = ['default', 'kube-system', 'shop', 'billing'];

/** A small Kubernetes-shaped keyspace and a write load that keeps it moving like a real API server would. */
export class KubeKeyspace {
  readonly #client: EtcdV3MemberClient;
  writes = 0;
  #eventSeq = 0;

  constructor(client: EtcdV3MemberClient) {
    this.#client = client;
  }

  async seed(): Promise<number> {
    const keys: [string, string][] = [];
    for (const ns of NAMESPACES) {
      for (let i = 0; i < 15; i++) keys.push([`/registry/pods/${ns}/app-${i}`, json({ kind: 'Pod', ns, i })]);
      for (let i = 0; i < 5; i++)
        keys.push([`/registry/configmaps/${ns}/config-${i}`, json({ kind: 'ConfigMap', ns, i })]);
      for (let i = 0; i < 3; i++)
        keys.push([`/registry/secrets/${ns}/secret-${i}`, json({ kind: 'Secret', ns, i })]);
      keys.push([
        `/registry/etcdmonitor.dev/etcdclusters/${ns}/etcd-${ns}`,
        json({ kind: 'EtcdCluster', ns }),
      ]);
    }
    for (let i = 0; i < 5; i++)
      keys.push([`/registry/leases/kube-node-lease/node-${i}`, json({ kind: 'Lease', i })]);
    for (let i = 0; i < 5; i++) keys.push([`/registry/minions/node-${i}`, json({ kind: 'Node', i })]);
    keys.push(['/registry/namespaces/default', json({ kind: 'Namespace' })]);
    for (const [k, v] of keys) await this.#client.put(k, v);
    this.writes += keys.length;
    return keys.length;
  }

  /** Lease renewals, pod updates and short-lived events, at about `perSecond` writes a second. */
  async churn(perSecond: number, signal: AbortSignal): Promise<void> {
    const pause = 1000 / perSecond;
    while (!signal.aborted) {
      try {
        await this.#step();
        this.writes++;
      } catch {
        // A member restart or a full cluster: keep going, the monitor reports it.
      }
      await new Promise((r) => setTimeout(r, pause));
    }
  }

  async #step(): Promise<void> {
    const roll = Math.random();
    const ns = NAMESPACES[Math.floor(Math.random() * NAMESPACES.length)]!;
    if (roll < 0.4) {
      await this.#client.put(
        `/registry/leases/kube-node-lease/node-${Math.floor(Math.random() * 5)}`,
        json({ renewTime: Date.now() }),
      );
    } else if (roll < 0.7) {
      await this.#client.put(
        `/registry/pods/${ns}/app-${Math.floor(Math.random() * 15)}`,
        json({ phase: 'Running', at: Date.now() }),
      );
    } else {
      // Events expire: keep the newest 50.
      const seq = this.#eventSeq++;
      await this.#client.put(eventKey(seq), json({ reason: 'Pulled', seq }));
      if (seq >= 50) await this.#client.deleteRange(eventKey(seq - 50));
    }
  }
}

function eventKey(seq: number): string {
  return `/registry/events/${NAMESPACES[seq % NAMESPACES.length]}/app.${seq}`;
}

function json(value: unknown): string {
  return JSON.stringify(value);
}
