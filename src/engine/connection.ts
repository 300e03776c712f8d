import type { Logger } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { parseEndpoint, type Endpoint } from '../etcd/endpoint.ts';
import type {
  ClientOptions,
  EtcdHttpMemberClient,
  EtcdV2MemberClient,
  EtcdV3MemberClient,
  MemberInfo,
  StatusResult,
  V2Member,
} from '../etcd/types.ts';
import {
  httpView,
  v2ReadView,
  v3ReadView,
  type ClusterHandle,
  type ClusterTlsView,
  type EtcdHttpView,
  type EtcdV2ReadView,
  type EtcdV3ReadView,
  type MemberHandle,
  type MemberRole,
  type MemberSnapshot,
  type OwnedHttpReadClient,
  type OwnedV3ReadClient,
  type ProbeKey,
  type ProbeKeyRequest,
} from './contract.ts';
import { EngineProbeKey } from './probe-key.ts';
import { fetchPeerChain } from '../etcd/peer-certificates.ts';
import { accessError, accessProblem } from '../etcd/access-error.ts';
import type { MembersSnapshot } from './snapshot.ts';
import type { ClusterSpec } from './cluster-spec.ts';

/** Why the slower seeds' calls of a membership read are cancelled. */
const ANSWERED = new Error('another member answered first');

/** Builds the access-layer clients; swapped for fakes in unit tests. */
export interface ClientFactory {
  v3(endpoint: Endpoint, options: ClientOptions): EtcdV3MemberClient;
  http(endpoint: Endpoint, options: ClientOptions): EtcdHttpMemberClient;
  v2(endpoint: Endpoint, options: ClientOptions): EtcdV2MemberClient;
  /** A v3 client that shares its channel with nobody (long-lived watches); defaults to v3(). */
  dedicatedV3?(endpoint: Endpoint, options: ClientOptions): EtcdV3MemberClient;
}

/**
 * The clients of one member endpoint, created on first use and kept across
 * rounds, with the read-only views features get of them.
 */
class MemberClients {
  #v3: EtcdV3MemberClient | undefined;
  #http: EtcdHttpMemberClient | undefined;
  #v2: EtcdV2MemberClient | undefined;
  #v3View: EtcdV3ReadView | undefined;
  #httpView: EtcdHttpView | undefined;
  #v2View: EtcdV2ReadView | undefined;
  readonly endpoint: Endpoint;
  readonly #factory: ClientFactory;
  readonly #options: ClientOptions;

  constructor(endpoint: Endpoint, factory: ClientFactory, options: ClientOptions) {
    this.endpoint = endpoint;
    this.#factory = factory;
    this.#options = options;
  }

  v3(): EtcdV3MemberClient {
    this.#v3 ??= this.#factory.v3(this.endpoint, this.#options);
    return this.#v3;
  }

  http(): EtcdHttpMemberClient {
    this.#http ??= this.#factory.http(this.endpoint, this.#options);
    return this.#http;
  }

  v2(): EtcdV2MemberClient {
    this.#v2 ??= this.#factory.v2(this.endpoint, this.#options);
    return this.#v2;
  }

  v3View(): EtcdV3ReadView {
    this.#v3View ??= v3ReadView(this.v3());
    return this.#v3View;
  }

  httpView(): EtcdHttpView {
    this.#httpView ??= httpView(this.http());
    return this.#httpView;
  }

  v2View(): EtcdV2ReadView {
    this.#v2View ??= v2ReadView(this.v2());
    return this.#v2View;
  }

  async close(): Promise<void> {
    this.#v3?.close();
    await Promise.allSettled([this.#http?.close(), this.#v2?.close()]);
  }
}

interface Member {
  readonly snapshot: MemberSnapshot;
  readonly endpoint: Endpoint | undefined;
}

interface Discovery {
  readonly members: Member[];
  readonly snapshot: MembersSnapshot;
}

/**
 * Owns every connection to one cluster: one set of clients per member
 * endpoint, reused across rounds, closed when the member leaves or the
 * cluster is removed. Also keeps the membership that features iterate over,
 * and the handle they get (read-only views, no credentials).
 */
export class ClusterConnection {
  readonly spec: ClusterSpec;
  readonly logger: Logger;
  /** What features get of this cluster. */
  readonly handle: ClusterHandle;
  readonly #factory: ClientFactory;
  readonly #clients = new Map<string, MemberClients>();
  readonly #ownStreams = new Set<EtcdV3MemberClient>();
  readonly #ownHttp = new Set<EtcdHttpMemberClient>();
  readonly #probeKeys = new Set<EngineProbeKey>();
  #members: Member[];
  #closed = false;
  readonly #firstDiscovery: Promise<void>;
  #markDiscovered: () => void = () => {};

  constructor(spec: ClusterSpec, factory: ClientFactory, logger: Logger) {
    this.spec = spec;
    this.logger = logger;
    this.#factory = factory;
    this.#members = spec.endpoints.map((endpoint) => ({ endpoint, snapshot: configuredMember(endpoint) }));
    this.#firstDiscovery = new Promise((resolve) => {
      this.#markDiscovered = resolve;
    });
    const { id, name, storageBackend, endpoints } = spec;
    this.handle = {
      identity: { id, name, labels: spec.labels ?? {}, storageBackend, endpoints },
      logger,
      requestTimeoutMs: spec.client.requestTimeoutMs,
      tls: tlsView(spec),
      ready: (signal) => this.ready(signal),
      members: () => this.members(),
      openV3Client: (endpoint) => this.openV3Client(endpoint),
      openHttpClient: (endpoint) => this.openHttpClient(endpoint),
      openProbeKey: (request) => this.openProbeKey(request),
    };
  }

  async ready(signal: AbortSignal): Promise<void> {
    signal.throwIfAborted();
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
      void this.#firstDiscovery.then(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  }

  members(): readonly MemberHandle[] {
    return this.#members.map((member) => this.#handle(member));
  }

  openV3Client(endpoint: Endpoint): OwnedV3ReadClient {
    this.#assertOpen();
    const client = (this.#factory.dedicatedV3 ?? this.#factory.v3).call(
      this.#factory,
      endpoint,
      this.spec.client,
    );
    this.#ownStreams.add(client);
    return {
      client: v3ReadView(client),
      // The caller owns the client, but a removed cluster closes any it forgot.
      close: () => {
        this.#ownStreams.delete(client);
        client.close();
      },
    };
  }

  openHttpClient(endpoint: Endpoint): OwnedHttpReadClient {
    this.#assertOpen();
    // No credentials: /metrics and /health are served without them, and a password not needed should not travel.
    const { auth: _auth, ...options } = this.spec.client;
    const client = this.#factory.http(endpoint, options);
    this.#ownHttp.add(client);
    return {
      client: httpView(client),
      close: async () => {
        this.#ownHttp.delete(client);
        await client.close();
      },
    };
  }

  openProbeKey(request: ProbeKeyRequest): ProbeKey {
    this.#assertOpen();
    if (this.spec.storageBackend !== 'v3') throw new Error('probe keys need the v3 API');
    const key = new EngineProbeKey(request, {
      clusterId: this.spec.id,
      logger: this.logger,
      clientOf: (member) => {
        if (member.endpoint === undefined)
          throw new Error(`member ${member.snapshot.name} has no client URL`);
        return this.#clientsFor(member.endpoint).v3();
      },
      // The leader first (it serves lease calls without forwarding), then the members that answered.
      leaseMembers: () => {
        const rank = (m: MemberHandle): number =>
          m.snapshot.role === 'leader' ? 0 : m.snapshot.error === undefined ? 1 : 2;
        return [...this.members()].sort((a, b) => rank(a) - rank(b));
      },
      onClose: (k) => this.#probeKeys.delete(k),
    });
    this.#probeKeys.add(key);
    return key;
  }

  /** Reads membership and every member's status, in parallel. */
  async discover(signal: AbortSignal): Promise<MembersSnapshot> {
    this.#assertOpen();
    try {
      const result =
        this.spec.storageBackend === 'v2' ? await this.#discoverV2(signal) : await this.#discoverV3(signal);
      this.#members = result.members;
      this.#dropUnusedClients();
      return result.snapshot;
    } finally {
      this.#markDiscovered();
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    // Probe keys a feature left open: revoked first, while the clients still work.
    await Promise.allSettled([...this.#probeKeys].map((k) => k.close()));
    if (this.#closed) return;
    this.#closed = true;
    this.#markDiscovered();
    for (const client of this.#ownStreams) client.close();
    this.#ownStreams.clear();
    const ownHttp = [...this.#ownHttp];
    this.#ownHttp.clear();
    await Promise.allSettled(ownHttp.map((c) => c.close()));
    const all = [...this.#clients.values()];
    this.#clients.clear();
    await Promise.allSettled(all.map((c) => c.close()));
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`cluster ${this.spec.id} is closed`);
  }

  #clientsFor(endpoint: Endpoint): MemberClients {
    this.#assertOpen();
    let clients = this.#clients.get(endpoint.url);
    if (clients === undefined) {
      clients = new MemberClients(endpoint, this.#factory, this.spec.client);
      this.#clients.set(endpoint.url, clients);
    }
    return clients;
  }

  #handle(member: Member): MemberHandle {
    const endpoint = member.endpoint;
    const clients = (): MemberClients => {
      if (endpoint === undefined)
        throw new Error(`member ${member.snapshot.name || '(unnamed)'} has no client URL`);
      return this.#clientsFor(endpoint);
    };
    return {
      snapshot: member.snapshot,
      endpoint,
      v3: () => clients().v3View(),
      http: () => clients().httpView(),
      v2: () => clients().v2View(),
    };
  }

  /** Endpoints to ask for membership: the configured ones, then the members last seen. */
  #seeds(): Endpoint[] {
    const seeds = new Map<string, Endpoint>();
    for (const e of this.spec.endpoints) seeds.set(e.url, e);
    for (const m of this.#members) if (m.endpoint !== undefined) seeds.set(m.endpoint.url, m.endpoint);
    return [...seeds.values()];
  }

  /** The first answer of any seed wins; the other calls are cancelled. */
  async #firstAnswer<T>(
    call: string,
    ask: (c: MemberClients, signal: AbortSignal) => Promise<T>,
    signal: AbortSignal,
  ): Promise<T> {
    const seeds = this.#seeds();
    // One seed (a one-member cluster): nothing to cancel, no signal of our own (membership reads are frequent).
    const local = seeds.length > 1 ? new AbortController() : undefined;
    const callSignal = local === undefined ? signal : AbortSignal.any([signal, local.signal]);
    try {
      return await Promise.any(seeds.map((e) => ask(this.#clientsFor(e), callSignal)));
    } catch (err) {
      if (err instanceof AggregateError) {
        // Every endpoint refused the monitor's credentials: say so, not "no endpoint answered".
        const denied = err.errors.map(accessError);
        if (denied.length > 0 && denied.every((d) => d !== undefined))
          throw new Error(accessProblem(denied[0] ?? '', 'every endpoint', `the ${call} answer`));
        const reasons = err.errors.map(errorMessage).join('; ');
        throw new Error(`no endpoint answered ${call}: ${reasons}`);
      }
      throw err;
    } finally {
      // With a reason of ours: abort() without one builds a DOMException, stack trace included, every time.
      local?.abort(ANSWERED);
    }
  }

  /** v3: MemberList from any member, then every member's Status. */
  async #discoverV3(signal: AbortSignal): Promise<Discovery> {
    return this.#discoverWith(
      signal,
      async () => {
        const res = await this.#firstAnswer('MemberList', (c, s) => c.v3().memberList({ signal: s }), signal);
        return { listed: res.members, clusterId: res.header.clusterId };
      },
      (info, endpoint) => fromMemberInfo(info, endpoint),
      async (clients, member) => withStatus(member, await clients.v3().status({ signal })),
    );
  }

  /** v2: /v2/members from any member, then every member's /v2/stats/self and /version. */
  async #discoverV2(signal: AbortSignal): Promise<Discovery> {
    return this.#discoverWith(
      signal,
      async () => ({
        listed: await this.#firstAnswer('v2 members', (c, s) => c.v2().members({ signal: s }), signal),
      }),
      (info, endpoint) => fromV2Member(info, endpoint),
      async (clients, member) => {
        const [stats, version] = await Promise.all([
          clients.v2().selfStats({ signal }),
          clients.http().version({ signal }),
        ]);
        const role: MemberRole =
          stats.state === 'StateLeader' ? 'leader' : stats.state === 'StateFollower' ? 'follower' : 'unknown';
        const { error: _previous, ...known } = member;
        const leaderId = hexId(stats.leaderId);
        return {
          ...known,
          role,
          version: version.etcdserver,
          memberErrors: [],
          ...(leaderId !== undefined ? { leaderId } : {}),
        };
      },
    );
  }

  /**
   * The shape both APIs share: read the member list (keeping the last known
   * members when nobody answers), choose each member's endpoint, then ask
   * every member for its status in parallel.
   */
  async #discoverWith<T extends { readonly clientURLs: readonly string[] }>(
    _signal: AbortSignal,
    list: () => Promise<{ listed: readonly T[]; clusterId?: bigint }>,
    toSnapshot: (info: T, endpoint: Endpoint | undefined) => MemberSnapshot,
    probe: (clients: MemberClients, member: MemberSnapshot) => Promise<MemberSnapshot>,
  ): Promise<Discovery> {
    let listed: readonly T[] | undefined;
    let clusterId: bigint | undefined;
    let listError: string | undefined;
    try {
      ({ listed, clusterId } = await list());
    } catch (err) {
      listError = errorMessage(err);
    }

    let targets: Member[];
    if (listed === undefined) {
      targets = this.#members;
    } else if (this.spec.discoverMembers) {
      targets = listed.map((info) => {
        const endpoint = pickEndpoint(info.clientURLs, this.spec.endpoints[0]);
        return { endpoint, snapshot: toSnapshot(info, endpoint) };
      });
    } else {
      targets = this.spec.endpoints.map((endpoint) => {
        const info = listed.find((m) => m.clientURLs.some((u) => sameEndpoint(u, endpoint)));
        return {
          endpoint,
          snapshot: info === undefined ? configuredMember(endpoint) : toSnapshot(info, endpoint),
        };
      });
    }

    const members = await Promise.all(
      targets.map(async (member): Promise<Member> => {
        if (member.endpoint === undefined) {
          return {
            ...member,
            snapshot: { ...member.snapshot, error: 'member has no client URL (not started yet?)' },
          };
        }
        try {
          return { ...member, snapshot: await probe(this.#clientsFor(member.endpoint), member.snapshot) };
        } catch (err) {
          const denied = accessError(err);
          const error =
            denied === undefined
              ? errorMessage(err)
              : accessProblem(denied, member.endpoint.hostPort, "this member's status");
          return { ...member, snapshot: withoutStatus(member.snapshot, error) };
        }
      }),
    );
    const leaderId = members.find((m) => m.snapshot.role === 'leader')?.snapshot.id;
    return {
      members,
      snapshot: {
        checkedAt: new Date(),
        ...(clusterId !== undefined ? { clusterId } : {}),
        ...(leaderId !== undefined ? { leaderId } : {}),
        members: members.map((m) => m.snapshot),
        ...(listError !== undefined ? { error: listError } : {}),
      },
    };
  }

  #dropUnusedClients(): void {
    const used = new Set<string>();
    for (const e of this.spec.endpoints) used.add(e.url);
    for (const m of this.#members) if (m.endpoint !== undefined) used.add(m.endpoint.url);
    for (const [url, clients] of this.#clients) {
      if (used.has(url)) continue;
      this.#clients.delete(url);
      void clients.close();
    }
  }
}

function hexId(hex: string): bigint | undefined {
  return /^[0-9a-f]+$/i.test(hex) ? BigInt(`0x${hex}`) : undefined;
}

function sameEndpoint(url: string, endpoint: Endpoint): boolean {
  try {
    return parseEndpoint(url).url === endpoint.url;
  } catch {
    return false;
  }
}

/** A member's client URL to talk to: the first that parses, preferring the scheme of the configured endpoints. */
export function pickEndpoint(
  urls: readonly string[],
  configured: Endpoint | undefined,
): Endpoint | undefined {
  const parsed: Endpoint[] = [];
  for (const url of urls) {
    try {
      parsed.push(parseEndpoint(url));
    } catch {
      // unix:// sockets and the like cannot be reached from here.
    }
  }
  if (configured !== undefined) {
    const exact = parsed.find((e) => e.url === configured.url);
    if (exact !== undefined) return exact;
    const sameScheme = parsed.find((e) => e.scheme === configured.scheme);
    if (sameScheme !== undefined) return sameScheme;
  }
  return parsed[0];
}

function configuredMember(endpoint: Endpoint): MemberSnapshot {
  return {
    id: undefined,
    name: '',
    endpoint: endpoint.hostPort,
    clientURLs: [endpoint.url],
    peerURLs: [],
    role: 'unknown',
    memberErrors: [],
  };
}

function fromMemberInfo(info: MemberInfo, endpoint: Endpoint | undefined): MemberSnapshot {
  return {
    id: info.id,
    name: info.name,
    endpoint: endpoint?.hostPort ?? '',
    clientURLs: info.clientURLs,
    peerURLs: info.peerURLs,
    role: info.isLearner ? 'learner' : 'unknown',
    memberErrors: [],
  };
}

function fromV2Member(info: V2Member, endpoint: Endpoint | undefined): MemberSnapshot {
  return {
    id: hexId(info.id),
    name: info.name,
    endpoint: endpoint?.hostPort ?? '',
    clientURLs: info.clientURLs,
    peerURLs: info.peerURLs,
    role: 'unknown',
    memberErrors: [],
  };
}

function withStatus(member: MemberSnapshot, status: StatusResult): MemberSnapshot {
  const id = member.id ?? status.header.memberId;
  const role: MemberRole = status.isLearner ? 'learner' : status.leader === id ? 'leader' : 'follower';
  return {
    id,
    name: member.name,
    endpoint: member.endpoint,
    clientURLs: member.clientURLs,
    peerURLs: member.peerURLs,
    role,
    version: status.version,
    dbSize: status.dbSize,
    dbSizeInUse: status.dbSizeInUse,
    dbSizeQuota: status.dbSizeQuota,
    raftTerm: status.raftTerm,
    raftIndex: status.raftIndex,
    raftAppliedIndex: status.raftAppliedIndex,
    revision: status.header.revision,
    leaderId: status.leader,
    memberErrors: status.errors,
  };
}

function withoutStatus(member: MemberSnapshot, error: string): MemberSnapshot {
  return {
    id: member.id,
    name: member.name,
    endpoint: member.endpoint,
    clientURLs: member.clientURLs,
    peerURLs: member.peerURLs,
    role: member.role === 'learner' ? 'learner' : 'unknown',
    memberErrors: [],
    error,
  };
}

/** The public side of the cluster's TLS settings, and handshakes made with them (the key stays here). */
function tlsView(spec: ClusterSpec): ClusterTlsView | undefined {
  const tls = spec.client.tls;
  if (tls === undefined && !spec.endpoints.some((e) => e.scheme === 'https')) return undefined;
  return Object.freeze({
    ca: tls?.ca,
    clientCert: tls?.cert,
    serverName: tls?.serverName !== undefined && tls.serverName !== '' ? tls.serverName : undefined,
    peerCertificates: (endpoint: Endpoint, signal: AbortSignal) =>
      fetchPeerChain(endpoint, tls, spec.client.dialTimeoutMs, signal),
  });
}
