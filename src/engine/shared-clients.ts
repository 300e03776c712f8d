import type { Endpoint } from '../etcd/endpoint.ts';
import type {
  ClientOptions,
  EtcdHttpMemberClient,
  EtcdV2MemberClient,
  EtcdV3MemberClient,
} from '../etcd/types.ts';
import type { ClientFactory } from './connection.ts';
import { digest } from './spec.ts';

interface Entry {
  readonly client: { close(): void | Promise<void> };
  refs: number;
}

/**
 * Shares one client per (member endpoint, credentials) across clusters: a
 * thousand cluster names that point at the same few members keep a few
 * channels, not thousands. Still one channel per member, so every answer
 * and failure stays attributed to its member. Each user gets a handle whose
 * close() releases its reference; the last one closes the client.
 */
export class SharedClients implements ClientFactory {
  readonly #inner: ClientFactory;
  readonly #entries = new Map<string, Entry>();

  constructor(inner: ClientFactory) {
    this.#inner = inner;
  }

  /** Open clients, for tests and benchmarks. */
  get size(): number {
    return this.#entries.size;
  }

  v3(endpoint: Endpoint, options: ClientOptions): EtcdV3MemberClient {
    return this.#share('v3', endpoint, options, () => this.#inner.v3(endpoint, options));
  }

  http(endpoint: Endpoint, options: ClientOptions): EtcdHttpMemberClient {
    return this.#share('http', endpoint, options, () => this.#inner.http(endpoint, options));
  }

  v2(endpoint: Endpoint, options: ClientOptions): EtcdV2MemberClient {
    return this.#share('v2', endpoint, options, () => this.#inner.v2(endpoint, options));
  }

  dedicatedV3(endpoint: Endpoint, options: ClientOptions): EtcdV3MemberClient {
    return (this.#inner.dedicatedV3 ?? this.#inner.v3).call(this.#inner, endpoint, options);
  }

  #share<T extends { close(): void | Promise<void> }>(
    kind: string,
    endpoint: Endpoint,
    options: ClientOptions,
    create: () => T,
  ): T {
    const key = `${kind} ${endpoint.url} ${digest(options)}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { client: create(), refs: 0 };
      this.#entries.set(key, entry);
    }
    entry.refs++;
    const shared = entry.client as T;
    let released = false;
    const release = (): void | Promise<void> => {
      if (released) return;
      released = true;
      const current = this.#entries.get(key);
      if (current === undefined || --current.refs > 0) return;
      this.#entries.delete(key);
      return current.client.close();
    };
    return new Proxy(shared, {
      get(target, prop) {
        if (prop === 'close') return release;
        const value: unknown = Reflect.get(target, prop, target);
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  }
}
