import type { Endpoint } from '../etcd/endpoint.ts';
import type {
  ClientOptions,
  EtcdHttpMemberClient,
  EtcdV2MemberClient,
  EtcdV3MemberClient,
} from '../etcd/types.ts';
import type { ClientFactory } from './connection.ts';
import { digest } from './cluster-spec.ts';

interface Closable {
  close(): void | Promise<void>;
}

interface Entry {
  readonly client: Closable;
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
    return this.#share(
      'v3',
      endpoint,
      options,
      () => this.#inner.v3(endpoint, options),
      (c, release) => new V3Handle(c, release),
    );
  }

  http(endpoint: Endpoint, options: ClientOptions): EtcdHttpMemberClient {
    return this.#share(
      'http',
      endpoint,
      options,
      () => this.#inner.http(endpoint, options),
      (c, release) => new HttpHandle(c, release),
    );
  }

  v2(endpoint: Endpoint, options: ClientOptions): EtcdV2MemberClient {
    return this.#share(
      'v2',
      endpoint,
      options,
      () => this.#inner.v2(endpoint, options),
      (c, release) => new V2Handle(c, release),
    );
  }

  dedicatedV3(endpoint: Endpoint, options: ClientOptions): EtcdV3MemberClient {
    return (this.#inner.dedicatedV3 ?? this.#inner.v3).call(this.#inner, endpoint, options);
  }

  #share<T extends Closable>(
    kind: string,
    endpoint: Endpoint,
    options: ClientOptions,
    create: () => T,
    handle: (client: T, release: () => void | Promise<void>) => T,
  ): T {
    const key = `${kind} ${endpoint.url} ${digest(options)}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = { client: create(), refs: 0 };
      this.#entries.set(key, entry);
    }
    entry.refs++;
    let released = false;
    const release = (): void | Promise<void> => {
      if (released) return;
      released = true;
      const current = this.#entries.get(key);
      if (current === undefined || --current.refs > 0) return;
      this.#entries.delete(key);
      return current.client.close();
    };
    return handle(entry.client as T, release);
  }
}

/*
 * A user's handle on a shared client: every call goes to the client, but
 * close() releases this user's reference only. Written out per interface
 * so that a method added to a client interface fails to compile here until
 * the handle forwards it too.
 */

/** What every handle holds: the shared client and this user's release. */
abstract class Handle<T extends Closable & { readonly endpoint: Endpoint }> {
  protected readonly client: T;
  readonly #release: () => void | Promise<void>;

  constructor(client: T, release: () => void | Promise<void>) {
    this.client = client;
    this.#release = release;
  }

  get endpoint(): Endpoint {
    return this.client.endpoint;
  }

  protected release(): void | Promise<void> {
    return this.#release();
  }
}

class V3Handle extends Handle<EtcdV3MemberClient> implements EtcdV3MemberClient {
  memberList(...a: Parameters<EtcdV3MemberClient['memberList']>) {
    return this.client.memberList(...a);
  }
  status(...a: Parameters<EtcdV3MemberClient['status']>) {
    return this.client.status(...a);
  }
  alarmList(...a: Parameters<EtcdV3MemberClient['alarmList']>) {
    return this.client.alarmList(...a);
  }
  alarmDisarm(...a: Parameters<EtcdV3MemberClient['alarmDisarm']>) {
    return this.client.alarmDisarm(...a);
  }
  alarmActivate(...a: Parameters<EtcdV3MemberClient['alarmActivate']>) {
    return this.client.alarmActivate(...a);
  }
  range(...a: Parameters<EtcdV3MemberClient['range']>) {
    return this.client.range(...a);
  }
  rangePages(...a: Parameters<EtcdV3MemberClient['rangePages']>) {
    return this.client.rangePages(...a);
  }
  hashKV(...a: Parameters<EtcdV3MemberClient['hashKV']>) {
    return this.client.hashKV(...a);
  }
  put(...a: Parameters<EtcdV3MemberClient['put']>) {
    return this.client.put(...a);
  }
  leaseGrant(...a: Parameters<EtcdV3MemberClient['leaseGrant']>) {
    return this.client.leaseGrant(...a);
  }
  leaseRevoke(...a: Parameters<EtcdV3MemberClient['leaseRevoke']>) {
    return this.client.leaseRevoke(...a);
  }
  leaseKeepAliveOnce(...a: Parameters<EtcdV3MemberClient['leaseKeepAliveOnce']>) {
    return this.client.leaseKeepAliveOnce(...a);
  }
  deleteRange(...a: Parameters<EtcdV3MemberClient['deleteRange']>) {
    return this.client.deleteRange(...a);
  }
  compact(...a: Parameters<EtcdV3MemberClient['compact']>) {
    return this.client.compact(...a);
  }
  defragment(...a: Parameters<EtcdV3MemberClient['defragment']>) {
    return this.client.defragment(...a);
  }
  watch(...a: Parameters<EtcdV3MemberClient['watch']>) {
    return this.client.watch(...a);
  }
  close(): void {
    void this.release();
  }
}

class HttpHandle extends Handle<EtcdHttpMemberClient> implements EtcdHttpMemberClient {
  health(...a: Parameters<EtcdHttpMemberClient['health']>) {
    return this.client.health(...a);
  }
  version(...a: Parameters<EtcdHttpMemberClient['version']>) {
    return this.client.version(...a);
  }
  metrics(...a: Parameters<EtcdHttpMemberClient['metrics']>) {
    return this.client.metrics(...a);
  }
  async close(): Promise<void> {
    await this.release();
  }
}

class V2Handle extends Handle<EtcdV2MemberClient> implements EtcdV2MemberClient {
  members(...a: Parameters<EtcdV2MemberClient['members']>) {
    return this.client.members(...a);
  }
  selfStats(...a: Parameters<EtcdV2MemberClient['selfStats']>) {
    return this.client.selfStats(...a);
  }
  index(...a: Parameters<EtcdV2MemberClient['index']>) {
    return this.client.index(...a);
  }
  countKeys(...a: Parameters<EtcdV2MemberClient['countKeys']>) {
    return this.client.countKeys(...a);
  }
  set(...a: Parameters<EtcdV2MemberClient['set']>) {
    return this.client.set(...a);
  }
  delete(...a: Parameters<EtcdV2MemberClient['delete']>) {
    return this.client.delete(...a);
  }
  async close(): Promise<void> {
    await this.release();
  }
}
