/**
 * The contract of the etcd access layer: what the engine and the features may
 * call. All 64-bit values (revisions, member IDs, raft indexes and terms) are
 * bigint. Every call takes an AbortSignal; the client adds its own per-call
 * deadline (requestTimeoutMs) on top, whichever comes first wins.
 */
import type { Endpoint } from './endpoint.ts';
import type { Secret } from './secret.ts';

/** PEM material, already read from files or Secrets. */
export interface TlsMaterial {
  /** CA bundle; when absent the system roots are used. */
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: Secret;
  /** Overrides the name checked against the server certificate. */
  readonly serverName?: string;
  /** Off unless explicitly asked for; logged as a warning. */
  readonly insecureSkipVerify?: boolean;
}

export interface AuthCredentials {
  readonly username: string;
  readonly password: Secret;
}

export interface ClientOptions {
  readonly dialTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly tls?: TlsMaterial;
  readonly auth?: AuthCredentials;
  /** gRPC keepalive ping interval; etcd's default minimum is 5 s. */
  readonly keepaliveTimeMs?: number;
}

export const DEFAULT_CLIENT_OPTIONS: Pick<
  ClientOptions,
  'dialTimeoutMs' | 'requestTimeoutMs' | 'keepaliveTimeMs'
> = {
  dialTimeoutMs: 5_000,
  requestTimeoutMs: 5_000,
  keepaliveTimeMs: 30_000,
};

export interface CallOptions {
  readonly signal?: AbortSignal;
  /** Overrides requestTimeoutMs for this call (e.g. a long HashKV). */
  readonly timeoutMs?: number;
}

// ---- v3 results -------------------------------------------------------------

export interface ResponseHeader {
  readonly clusterId: bigint;
  readonly memberId: bigint;
  readonly revision: bigint;
  readonly raftTerm: bigint;
}

export interface MemberInfo {
  readonly id: bigint;
  /** Empty for a member that was added but has not started yet. */
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
  readonly isLearner: boolean;
}

export interface MemberListResult {
  readonly header: ResponseHeader;
  readonly members: readonly MemberInfo[];
}

export interface StatusResult {
  readonly header: ResponseHeader;
  readonly version: string;
  readonly dbSize: bigint;
  readonly dbSizeInUse: bigint;
  /** 0 when the member knows no leader. */
  readonly leader: bigint;
  readonly raftIndex: bigint;
  readonly raftTerm: bigint;
  readonly raftAppliedIndex: bigint;
  readonly errors: readonly string[];
  readonly isLearner: boolean;
  /** 3.6+: the configured --quota-backend-bytes; 0 when not reported. */
  readonly dbSizeQuota: bigint;
  /** 3.6+: storage version; '' when not reported. */
  readonly storageVersion: string;
}

export type AlarmType = 'NOSPACE' | 'CORRUPT' | `UNKNOWN_${number}`;

export interface AlarmMember {
  /** 0 for a cluster-wide alarm (CORRUPT raised by the leader's check). */
  readonly memberId: bigint;
  readonly alarm: AlarmType;
}

export interface KeyValue {
  readonly key: Buffer;
  /** Empty when keysOnly was asked. */
  readonly value: Buffer;
  readonly createRevision: bigint;
  readonly modRevision: bigint;
  readonly version: bigint;
  readonly lease: bigint;
}

export interface RangeRequest {
  readonly key: Buffer | string;
  /** Exclusive end; omit for a single key. Use prefixEnd(key) for a prefix. */
  readonly rangeEnd?: Buffer | string;
  readonly limit?: bigint | number;
  /** 0 or absent: the latest revision. */
  readonly revision?: bigint;
  readonly serializable?: boolean;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
}

export interface RangeResult {
  readonly header: ResponseHeader;
  readonly kvs: readonly KeyValue[];
  readonly more: boolean;
  readonly count: bigint;
}

export interface LeaseGrantResult {
  readonly header: ResponseHeader;
  readonly id: bigint;
  readonly ttlSeconds: number;
}

export interface LeaseKeepAliveResult {
  readonly header: ResponseHeader;
  readonly id: bigint;
  /** Seconds the lease was renewed for; 0 or less when it does not exist any more. */
  readonly ttlSeconds: number;
}

export interface HashKVResult {
  readonly header: ResponseHeader;
  /** uint32 */
  readonly hash: number;
  /** -1 when the store was never compacted (etcd's own answer, all versions). */
  readonly compactRevision: bigint;
  /** The revision actually hashed (3.6+; 3.4.23 and 3.5.35 do not report it); 0 when not reported. */
  readonly hashRevision: bigint;
}

export interface WatchRequest {
  readonly key: Buffer | string;
  readonly rangeEnd?: Buffer | string;
  /** First revision to deliver; 0 = from now. */
  readonly startRevision?: bigint;
  readonly progressNotify?: boolean;
  /** Sends "hasleader" metadata: a member without a leader ends the watch instead of going silent. */
  readonly requireLeader?: boolean;
  readonly prevKv?: boolean;
}

export interface WatchEvent {
  readonly type: 'PUT' | 'DELETE';
  readonly kv: KeyValue;
  readonly prevKv?: KeyValue;
}

/** One message from the watch stream, in order. */
export type WatchMessage =
  | { readonly kind: 'created'; readonly header: ResponseHeader }
  | { readonly kind: 'events'; readonly header: ResponseHeader; readonly events: readonly WatchEvent[] }
  /** Progress notification: no events up to header.revision. */
  | { readonly kind: 'progress'; readonly header: ResponseHeader }
  /** The start revision was compacted; the watch is over. */
  | { readonly kind: 'compacted'; readonly compactRevision: bigint }
  /** Cancelled by the server (reason given); the watch is over. */
  | { readonly kind: 'canceled'; readonly reason: string };

/**
 * One gRPC channel to one member. Never load-balances: every answer or
 * failure belongs to `endpoint`. Reused across rounds; close() frees it.
 */
export interface EtcdV3MemberClient {
  readonly endpoint: Endpoint;
  memberList(opts?: CallOptions): Promise<MemberListResult>;
  status(opts?: CallOptions): Promise<StatusResult>;
  alarmList(opts?: CallOptions): Promise<readonly AlarmMember[]>;
  alarmDisarm(alarm: AlarmMember, opts?: CallOptions): Promise<readonly AlarmMember[]>;
  /**
   * Raises an alarm, for tests and drills only (a CORRUPT alarm stops the
   * cluster's reads and writes until disarmed). memberId 0 raises a
   * cluster-wide alarm.
   */
  alarmActivate(alarm: AlarmMember, opts?: CallOptions): Promise<readonly AlarmMember[]>;
  range(req: RangeRequest, opts?: CallOptions): Promise<RangeResult>;
  /**
   * Pages through a range with `limit` keys per request, pinned to one
   * revision (the first page's, unless req.revision is given), so that the
   * whole walk sees one consistent keyspace without holding it in memory.
   */
  rangePages(
    req: RangeRequest & { readonly pageSize: number },
    opts?: CallOptions,
  ): AsyncIterable<RangeResult>;
  hashKV(revision: bigint, opts?: CallOptions): Promise<HashKVResult>;
  /** opts.lease attaches the key to a lease (deleted when the lease is revoked or expires). */
  put(
    key: Buffer | string,
    value: Buffer | string,
    opts?: CallOptions & { readonly lease?: bigint },
  ): Promise<ResponseHeader>;
  /** A lease of `ttlSeconds` (etcd may grant a longer one: its minimum TTL is about 1.5 × election timeout). */
  leaseGrant(ttlSeconds: number, opts?: CallOptions): Promise<LeaseGrantResult>;
  /** Revokes a lease and deletes every key attached to it; 'not_found' when it already expired. */
  leaseRevoke(id: bigint, opts?: CallOptions): Promise<ResponseHeader>;
  /**
   * One keep-alive of a lease, on a short stream of its own: the TTL it was
   * renewed to, 0 when the lease no longer exists (expired or revoked).
   */
  leaseKeepAliveOnce(id: bigint, opts?: CallOptions): Promise<LeaseKeepAliveResult>;
  deleteRange(
    key: Buffer | string,
    rangeEnd?: Buffer | string,
    opts?: CallOptions,
  ): Promise<{ header: ResponseHeader; deleted: bigint }>;
  compact(revision: bigint, opts?: CallOptions & { physical?: boolean }): Promise<ResponseHeader>;
  defragment(opts?: CallOptions): Promise<void>;
  /**
   * Opens a watch on a stream of this member's channel. The iterator ends
   * after 'compacted' or 'canceled', throws EtcdError when the stream fails
   * (member gone, leader lost with requireLeader), and stops when `signal`
   * aborts. No per-call deadline applies to a watch.
   */
  watch(req: WatchRequest, signal: AbortSignal): AsyncIterable<WatchMessage>;
  close(): void;
}

// ---- v2 and HTTP ---------------------------------------------------------------

export interface V2Member {
  /** Hex as etcd prints it. */
  readonly id: string;
  readonly name: string;
  readonly peerURLs: readonly string[];
  readonly clientURLs: readonly string[];
}

export interface V2SelfStats {
  readonly id: string;
  readonly name: string;
  /** "StateLeader" | "StateFollower" | ... */
  readonly state: string;
  readonly leaderId: string;
  readonly startTime: string;
}

export interface V2KeyCount {
  /** X-Etcd-Index of the response. */
  readonly index: bigint;
  /** Leaf keys (not directories) under the prefix, all levels. */
  readonly keys: bigint;
}

/** The legacy v2 API of one member (etcd 3.4/3.5 with --enable-v2). */
export interface EtcdV2MemberClient {
  readonly endpoint: Endpoint;
  members(opts?: CallOptions): Promise<readonly V2Member[]>;
  selfStats(opts?: CallOptions): Promise<V2SelfStats>;
  /** The member's current v2 store index (X-Etcd-Index). */
  index(opts?: CallOptions): Promise<bigint>;
  countKeys(prefix: string, opts?: CallOptions): Promise<V2KeyCount>;
  set(key: string, value: string, opts?: CallOptions): Promise<bigint>;
  delete(key: string, opts?: CallOptions): Promise<bigint>;
  close(): Promise<void>;
}

export interface HealthResult {
  readonly healthy: boolean;
  /** etcd's reason when unhealthy (e.g. "NOSPACE", "RAFT NO LEADER"); '' otherwise. */
  readonly reason: string;
  readonly httpStatus: number;
}

export interface VersionResult {
  readonly etcdserver: string;
  readonly etcdcluster: string;
}

/** Plain HTTP(S) endpoints of one member, on a kept-alive connection pool of its own. */
export interface EtcdHttpMemberClient {
  readonly endpoint: Endpoint;
  health(
    opts?: CallOptions & { readonly serializable?: boolean; readonly exclude?: readonly string[] },
  ): Promise<HealthResult>;
  version(opts?: CallOptions): Promise<VersionResult>;
  /** The member's Prometheus text exposition (GET path, default /metrics), at most maxBytes of it. */
  metrics(opts?: MetricsOptions): Promise<MetricsText>;
  close(): Promise<void>;
}

export type MetricsOptions = CallOptions & {
  /** default /metrics */
  readonly path?: string;
  /** default 8 MiB */
  readonly maxBytes?: number;
  /**
   * An answer read this recently (or being read now) for another cluster
   * naming the same member may be returned instead of a new request (clients
   * shared by the engine; others always read).
   */
  readonly maxAgeMs?: number;
};

export interface MetricsText {
  readonly text: string;
  /** Bytes received. */
  readonly bytes: number;
  /** How long ago the answer was received, when it was read for another caller first. */
  readonly ageMs?: number;
}

// ---- errors ---------------------------------------------------------------------

export type EtcdErrorCode =
  | 'unavailable' // connection refused, DNS, member down
  | 'timeout' // deadline exceeded
  | 'tls' // certificate verification, handshake
  | 'auth' // wrong user/password, permission denied, invalid token
  | 'compacted' // requested revision compacted
  | 'future_revision'
  | 'not_found'
  | 'unsupported' // API not served (v2 disabled, old version)
  | 'canceled' // caller aborted
  | 'protocol' // unexpected response
  | 'unknown';

/**
 * Every failure of the access layer. The message names the endpoint and the
 * call and never contains credentials.
 */
export class EtcdError extends Error {
  override name = 'EtcdError';
  readonly code: EtcdErrorCode;
  readonly endpoint: string;
  readonly call: string;

  constructor(
    code: EtcdErrorCode,
    endpoint: string,
    call: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${call} on ${endpoint}: ${detail}`, options);
    this.code = code;
    this.endpoint = endpoint;
    this.call = call;
  }
}

/** Member IDs as etcdctl prints them: lower-case hex without padding. */
export function memberIdHex(id: bigint): string {
  return id.toString(16);
}

/** The range end that selects every key with the given prefix (etcd's GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer | string): Buffer {
  const buf = Buffer.from(prefix);
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      const end = Buffer.from(buf.subarray(0, i + 1));
      end[i] = buf[i]! + 1;
      return end;
    }
  }
  // All 0xff (or empty): range to the end of the keyspace.
  return Buffer.from([0]);
}
