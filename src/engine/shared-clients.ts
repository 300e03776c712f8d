import type { Endpoint } from '../etcd/endpoint.ts';
import type {
  ClientOptions,
  EtcdHttpMemberClient,
  EtcdV2MemberClient,
  EtcdV3MemberClient,
  MetricsOptions,
  MetricsText,
} from '../etcd/types.ts';
import type { ClientFactory } from './connection.ts';
import { digest } from './cluster-spec.ts';

interface Closable {
  close(): void | Promise<void>;
}

interface Entry {
  readonly client: Closable;
  refs: number;
  /** /metrics readings shared by this client's users (http clients only). */
  metrics?: SharedMetrics;
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
      (c, release, entry) => {
        entry.metrics ??= new SharedMetrics(c, () => entry.refs > 1);
        return new HttpHandle(c, release, entry.metrics);
      },
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
    handle: (client: T, release: () => void | Promise<void>, entry: Entry) => T,
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
      current.metrics?.close();
      return current.client.close();
    };
    return handle(entry.client as T, release, entry);
  }
}

interface Flight {
  readonly done: Promise<MetricsText>;
  readonly abort: AbortController;
  waiters: number;
}

/**
 * One reading of a member's /metrics for every cluster that names the
 * member: many cluster names for the same members (per-tenant names,
 * benchmarks) would otherwise each read the same 200 KB every round and
 * make the member time out. Callers asking at the same time share one
 * request (aborted only when every one of them gave up); an answer is kept
 * for the longest `maxAgeMs` callers asked for, and only while more than
 * one user shares the client (a member named once keeps nothing), then
 * dropped by a timer this object owns.
 */
class SharedMetrics {
  readonly #client: EtcdHttpMemberClient;
  readonly #shared: () => boolean;
  readonly #inflight = new Map<string, Flight>();
  #keepMs = 0;
  readonly #kept = new Map<
    string,
    { readonly at: number; readonly answer: MetricsText; readonly timer: NodeJS.Timeout }
  >();

  constructor(client: EtcdHttpMemberClient, shared: () => boolean) {
    this.#client = client;
    this.#shared = shared;
  }

  read(opts: MetricsOptions & { readonly maxAgeMs: number }): Promise<MetricsText> {
    // Kept for as long as any caller would take it, whoever read it.
    this.#keepMs = Math.max(this.#keepMs, opts.maxAgeMs);
    const key = `${opts.path ?? ''} ${opts.maxBytes ?? ''}`;
    const kept = this.#kept.get(key);
    if (kept !== undefined && performance.now() - kept.at <= opts.maxAgeMs)
      return Promise.resolve({ ...kept.answer, ageMs: performance.now() - kept.at });
    let flight = this.#inflight.get(key);
    if (flight === undefined) {
      const abort = new AbortController();
      const done = this.#client
        .metrics({
          path: opts.path,
          maxBytes: opts.maxBytes,
          timeoutMs: opts.timeoutMs,
          signal: abort.signal,
        })
        .then((answer) => {
          this.#keep(key, answer);
          return answer;
        })
        .finally(() => this.#inflight.delete(key));
      flight = { done, abort, waiters: 0 };
      this.#inflight.set(key, flight);
    }
    return this.#wait(flight, opts.signal);
  }

  #keep(key: string, answer: MetricsText): void {
    const maxAgeMs = this.#keepMs;
    const prior = this.#kept.get(key);
    if (prior !== undefined) clearTimeout(prior.timer);
    this.#kept.delete(key);
    if (!this.#shared() || maxAgeMs <= 0) return;
    const timer = setTimeout(() => {
      if (this.#kept.get(key)?.timer === timer) this.#kept.delete(key);
    }, maxAgeMs);
    timer.unref();
    this.#kept.set(key, { at: performance.now(), answer, timer });
  }

  /** The flight's answer for one caller; the request is aborted when its last caller leaves. */
  async #wait(flight: Flight, signal: AbortSignal | undefined): Promise<MetricsText> {
    signal?.throwIfAborted();
    flight.waiters++;
    let onAbort: (() => void) | undefined;
    try {
      if (signal === undefined) return await flight.done;
      return await Promise.race([
        flight.done,
        new Promise<never>((_, reject) => {
          onAbort = () => reject(signal.reason);
          signal.addEventListener('abort', onAbort, { once: true });
        }),
      ]);
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
      if (--flight.waiters === 0) flight.abort.abort();
    }
  }

  close(): void {
    for (const kept of this.#kept.values()) clearTimeout(kept.timer);
    this.#kept.clear();
    for (const flight of this.#inflight.values()) flight.abort.abort();
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
  readonly #metrics: SharedMetrics;

  constructor(client: EtcdHttpMemberClient, release: () => void | Promise<void>, metrics: SharedMetrics) {
    super(client, release);
    this.#metrics = metrics;
  }

  health(...a: Parameters<EtcdHttpMemberClient['health']>) {
    return this.client.health(...a);
  }
  version(...a: Parameters<EtcdHttpMemberClient['version']>) {
    return this.client.version(...a);
  }
  metrics(opts?: MetricsOptions) {
    const maxAgeMs = opts?.maxAgeMs;
    return maxAgeMs === undefined ? this.client.metrics(opts) : this.#metrics.read({ ...opts, maxAgeMs });
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
