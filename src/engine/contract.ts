/**
 * The plugin contract: everything the engine and the features share, and
 * nothing else. The engine implements the handles and runs the sessions;
 * a feature (src/features/<name>/) implements Feature and imports only this
 * module from the engine. Imports run one way: features -> contract <- engine,
 * and the engine imports nothing from src/features.
 *
 * A feature sees a cluster through a ClusterHandle: its identity and labels
 * (never its credentials or client settings), its members, and read-only
 * views of each member's clients (read, hash, watch, status, member list,
 * alarm list). Writes, compaction, defragmentation and alarm disarm are not
 * on the handle: an inspection never changes the cluster it inspects.
 */
import type { TSchema } from '@sinclair/typebox';
import type { Endpoint } from '../etcd/endpoint.ts';
import type { PresentedChain } from '../etcd/peer-certificates.ts';
import type { Finding } from '../findings.ts';
import type { EtcdHttpMemberClient, EtcdV2MemberClient, EtcdV3MemberClient } from '../etcd/types.ts';
import type { Logger } from '../log.ts';
import type { MetricDefinition } from '../metrics/catalogue.ts';
import type { MetricSample } from '../metrics/sample.ts';

export type StorageBackend = 'v3' | 'v2';

// ---- what a cluster is, as features see it -------------------------------------------

/**
 * Who the cluster is: enough to name it in messages and metrics, nothing to
 * connect with.
 */
export interface ClusterIdentity {
  /** Unique key in this process: the name for standalone clusters, "namespace/name" in Kubernetes. */
  readonly id: string;
  /** The clusterName label. */
  readonly name: string;
  /**
   * Labels every series of the cluster carries besides clusterName, set by the
   * adapter: the operator sets `namespace` (same-named clusters of two
   * namespaces never collide); a standalone config may set its own (`env`, `region`).
   */
  readonly labels: Readonly<Record<string, string>>;
  readonly storageBackend: StorageBackend;
  /** The endpoints the cluster was configured with (its members may advertise others). */
  readonly endpoints: readonly Endpoint[];
}

export type MemberRole = 'leader' | 'follower' | 'learner' | 'unknown';

/** What the monitor knows about one member, from MemberList and Status. */
export interface MemberSnapshot {
  /** undefined when the member is only known as a configured endpoint. */
  readonly id: bigint | undefined;
  readonly name: string;
  /** host:port of the client URL the monitor talks to ('' if it has none yet). */
  readonly endpoint: string;
  readonly clientURLs: readonly string[];
  readonly peerURLs: readonly string[];
  readonly role: MemberRole;
  readonly version?: string;
  readonly dbSize?: bigint;
  readonly dbSizeInUse?: bigint;
  readonly dbSizeQuota?: bigint;
  readonly raftTerm?: bigint;
  readonly raftIndex?: bigint;
  readonly raftAppliedIndex?: bigint;
  readonly revision?: bigint;
  readonly leaderId?: bigint;
  /** Errors the member itself reports in Status (e.g. "NOSPACE alarm"). */
  readonly memberErrors: readonly string[];
  /** Why the monitor could not get this member's status, if it could not. */
  readonly error?: string;
}

// ---- read-only views of the access layer -------------------------------------------

/** The v3 calls an inspection may make: reads, hashes, watches, status, member and alarm lists. */
export type EtcdV3ReadView = Pick<
  EtcdV3MemberClient,
  'endpoint' | 'memberList' | 'status' | 'alarmList' | 'range' | 'rangePages' | 'hashKV' | 'watch'
>;

/** The v2 calls an inspection may make (no set, no delete). */
export type EtcdV2ReadView = Pick<
  EtcdV2MemberClient,
  'endpoint' | 'members' | 'selfStats' | 'index' | 'countKeys'
>;

/** /health, /version and /metrics. */
export type EtcdHttpView = Pick<EtcdHttpMemberClient, 'endpoint' | 'health' | 'version' | 'metrics'>;

const V3_READ_CALLS = [
  'memberList',
  'status',
  'alarmList',
  'range',
  'rangePages',
  'hashKV',
  'watch',
] as const satisfies readonly (keyof EtcdV3ReadView)[];
const V2_READ_CALLS = [
  'members',
  'selfStats',
  'index',
  'countKeys',
] as const satisfies readonly (keyof EtcdV2ReadView)[];
const HTTP_CALLS = ['health', 'version', 'metrics'] as const satisfies readonly (keyof EtcdHttpView)[];

/**
 * An object with only the read calls of a client: a feature that casts its
 * handle still finds no put, deleteRange, compact, defragment or alarmDisarm.
 */
function pick<T extends { readonly endpoint: Endpoint }, K extends keyof T>(
  client: T,
  calls: readonly K[],
): Pick<T, 'endpoint' | K> {
  const view: Record<string, unknown> = { endpoint: client.endpoint };
  for (const call of calls) {
    const fn = client[call];
    if (typeof fn === 'function') view[call as string] = fn.bind(client);
  }
  return Object.freeze(view) as Pick<T, 'endpoint' | K>;
}

export function v3ReadView(client: EtcdV3MemberClient): EtcdV3ReadView {
  return pick(client, V3_READ_CALLS);
}

export function v2ReadView(client: EtcdV2MemberClient): EtcdV2ReadView {
  return pick(client, V2_READ_CALLS);
}

export function httpView(client: EtcdHttpMemberClient): EtcdHttpView {
  return pick(client, HTTP_CALLS);
}

// ---- handles ------------------------------------------------------------------------

/** One member as a feature sees it: what is known of it, and read-only views of its reused clients. */
export interface MemberHandle {
  readonly snapshot: MemberSnapshot;
  /** undefined when the member has no usable client URL (e.g. an unstarted learner). */
  readonly endpoint: Endpoint | undefined;
  /** Shared per-member clients, owned by the cluster: a feature never closes them. */
  v3(): EtcdV3ReadView;
  http(): EtcdHttpView;
  v2(): EtcdV2ReadView;
}

/** An HTTP client of an address of the cluster's own (a member's metrics URL); the feature that opened it closes it. */
export interface OwnedHttpReadClient {
  readonly client: EtcdHttpView;
  close(): Promise<void>;
}

/** A read-only v3 client on a channel of its own; the feature that opened it closes it. */
export interface OwnedV3ReadClient {
  readonly client: EtcdV3ReadView;
  close(): void;
}

export type { PresentedChain } from '../etcd/peer-certificates.ts';

/**
 * The one write an inspection may make, asked for deliberately
 * (ClusterHandle.openProbeKey): a key of its own, whose name the engine
 * makes up (`<prefix><16 random hex digits>`, so never a key that already
 * exists), attached to a lease the engine grants and renews. The feature
 * can put a short value into that key through any member, and nothing
 * else: no other key, no delete, no lease of its own. close() revokes the
 * lease, which deletes the key; if the process dies, the lease expires
 * after its TTL and etcd deletes the key. Why so narrow: features get
 * read-only views so that no bug in an inspection can change the cluster
 * it inspects (issue 7); a latency probe needs real writes, and this
 * keeps what it can touch to one key it created, for as long as it runs.
 */
export interface ProbeKeyRequest {
  /** Where the key lives: starts and ends with "/" (e.g. "/etcd-monitor/probe/"), at most 128 bytes. */
  readonly prefix: string;
  /** Lease TTL: how long the key outlives a monitor that died without revoking it. */
  readonly ttlSeconds: number;
}

const PROBE_PREFIX_MAX_BYTES = 128;
const PROBE_TTL_MIN_SECONDS = 2;
const PROBE_TTL_MAX_SECONDS = 86_400;

/** Why a probe key request is refused (for options checks and openProbeKey), or undefined when it is fine. */
export function probeKeyRequestProblem(request: ProbeKeyRequest): string | undefined {
  const { prefix, ttlSeconds } = request;
  if (!prefix.startsWith('/') || !prefix.endsWith('/') || prefix.length < 2)
    return `key prefix "${prefix}" must start and end with "/" (e.g. "/etcd-monitor/probe/")`;
  if (Buffer.byteLength(prefix) > PROBE_PREFIX_MAX_BYTES)
    return `key prefix is longer than ${PROBE_PREFIX_MAX_BYTES} bytes`;
  if (prefix.includes('\0')) return 'key prefix contains a NUL byte';
  if (
    !Number.isSafeInteger(ttlSeconds) ||
    ttlSeconds < PROBE_TTL_MIN_SECONDS ||
    ttlSeconds > PROBE_TTL_MAX_SECONDS
  )
    return `lease TTL must be a whole number of seconds from ${PROBE_TTL_MIN_SECONDS} to ${PROBE_TTL_MAX_SECONDS}, got ${ttlSeconds}`;
  return undefined;
}

/** Longest value a probe key takes: a probe writes a timestamp, not data. */
export const PROBE_VALUE_MAX_BYTES = 256;

export interface ProbeKey {
  /** The key, as made up by the engine. */
  readonly key: string;
  /**
   * Grants the lease, or renews it when a third of its TTL has passed
   * (granting a new one when it expired). Call once per round before the
   * writes, so that their round trips time the put alone.
   */
  keepAlive(signal: AbortSignal): Promise<void>;
  /** Puts `value` (at most PROBE_VALUE_MAX_BYTES) into the key through `member`, under the lease. */
  write(member: MemberHandle, value: string, signal: AbortSignal): Promise<void>;
  /** Revokes the lease (etcd deletes the key). Idempotent; a removed cluster closes any probe key left open. */
  close(): Promise<void>;
}

/**
 * The TLS side of a cluster that a feature may see: the public certificates
 * it is configured with (never the key) and a handshake made with its
 * settings, for the certificates inspection.
 */
export interface ClusterTlsView {
  /** The configured CA bundle (PEM); undefined: the system roots. */
  readonly ca: string | undefined;
  /** The configured client certificate (PEM, public part only). */
  readonly clientCert: string | undefined;
  /** The name server certificates are checked against, when configured instead of each endpoint's host. */
  readonly serverName: string | undefined;
  /** One short TLS connection to the endpoint, closed after the handshake: the chain it presented, verified or not. */
  peerCertificates(endpoint: Endpoint, signal: AbortSignal): Promise<PresentedChain>;
}

/** What a feature may use of the cluster it inspects. */
export interface ClusterHandle {
  readonly identity: ClusterIdentity;
  readonly logger: Logger;
  /** The deadline the clients put on each call (a feature's own waits can be derived from it). */
  readonly requestTimeoutMs: number;
  /** undefined when the cluster uses neither https endpoints nor TLS material. */
  readonly tls: ClusterTlsView | undefined;
  /** Resolves once membership has been read at least once (or failed), or rejects when signal aborts. */
  ready(signal: AbortSignal): Promise<void>;
  /** The members of the latest discovery (configured endpoints until then). */
  members(): readonly MemberHandle[];
  /**
   * A v3 client with a channel of its own, for long-lived streams (watches)
   * that must not share fate with the round-based calls. The caller owns it
   * and must close it (a removed cluster closes any it forgot).
   */
  openV3Client(endpoint: Endpoint): OwnedV3ReadClient;
  /**
   * An HTTP client of another address of a member (its --listen-metrics-urls),
   * with the cluster's TLS settings (https) and no credentials. The caller
   * owns it and closes it (a removed cluster closes any it forgot).
   */
  openHttpClient(endpoint: Endpoint): OwnedHttpReadClient;
  /** A key of the feature's own under a lease (v3 only): see ProbeKey. Throws on a bad prefix or TTL. */
  openProbeKey(request: ProbeKeyRequest): ProbeKey;
}

// ---- outcomes -----------------------------------------------------------------------

export interface InspectionOutcome {
  /** false: no verdict could be reached this round; counted as a failed inspection. */
  readonly ok: boolean;
  readonly error?: string;
  readonly summary: string;
  /**
   * What the inspection found wrong (an unhealthy member, a raised alarm, a
   * hash mismatch). Empty when everything passed; a failed round (ok false)
   * has its error instead.
   */
  readonly problems: readonly string[];
  /**
   * Measured figures out of their bounds (member, cause, figure, threshold,
   * what to do), listed in the "why" section of `inspect`, the status page and
   * the API. Each also has its sentence (formatFinding) in problems.
   */
  readonly findings?: readonly Finding[];
  readonly details: unknown;
  readonly metrics: readonly MetricSample[];
}

export type { Finding, FindingUnit } from '../findings.ts';

/**
 * A round that reached no verdict: counted as a failure, its error shown as
 * the summary ("no verdict: ..." or "failed: ..."). details and metrics are
 * what the round could still say (e.g. the groups of series fully known).
 */
export function failedOutcome(
  error: string,
  opts: {
    readonly summary?: string;
    readonly details?: unknown;
    readonly metrics?: readonly MetricSample[];
  } = {},
): InspectionOutcome {
  return {
    ok: false,
    error,
    summary: opts.summary ?? `failed: ${error}`,
    problems: [],
    details: opts.details ?? null,
    metrics: opts.metrics ?? [],
  };
}

// ---- features -----------------------------------------------------------------------

/** The per-cluster state of a feature: opened when enabled, closed when disabled or the cluster goes. */
export interface FeatureSession {
  inspect(signal: AbortSignal): Promise<InspectionOutcome>;
  close(): Promise<void>;
}

/**
 * An inspection plugin. One instance per process (built by the registry);
 * everything per cluster lives in the sessions it opens.
 */
export interface Feature<Options = unknown> {
  readonly name: string;
  readonly description: string;
  readonly backends: readonly StorageBackend[];
  readonly defaultIntervalSeconds: number;
  /** The metric families this feature exports (documented, linted). */
  readonly metrics: readonly MetricDefinition[];
  /**
   * The schema parseOptions checks the options against (undefined: the
   * feature takes none). Adapters that get options as text (`inspect --set`)
   * read from it what type each option is; parseOptions stays the validator.
   */
  readonly optionsSchema: TSchema | undefined;
  /** Validates and defaults the options; throws OptionsError naming the field. */
  parseOptions(raw: Readonly<Record<string, unknown>> | undefined): Options;
  open(cluster: ClusterHandle, options: Options): FeatureSession;
}

/** Options a feature rejects; the message names the field. */
export class OptionsError extends Error {
  override name = 'OptionsError';
}

/** What every feature declares, whatever its sessions look like. */
interface FeatureDeclaration<Options> {
  readonly name: string;
  /** One line for `etcd-monitor features` and the docs. */
  readonly description: string;
  /** Default: both ('v3', 'v2'); v2-backed clusters on etcd 3.x serve the v3 API too. */
  readonly backends?: readonly StorageBackend[];
  readonly defaultIntervalSeconds: number;
  /** The feature's table of metric families (documented, linted), e.g. QUOTA_METRICS. */
  readonly metrics: Readonly<Record<string, MetricDefinition>>;
  /**
   * Validates and defaults the options, throwing OptionsError naming the
   * field. Absent: the feature takes no options and any given is refused.
   */
  readonly parseOptions?: (raw: Readonly<Record<string, unknown>> | undefined) => Options;
  /** The TypeBox schema parseOptions validates against; given whenever parseOptions is. */
  readonly optionsSchema?: TSchema;
}

/**
 * A feature: its declaration and either
 * - `inspect`, for a feature that keeps nothing between rounds (each round
 *   starts from the cluster handle), or
 * - `open`, for one that keeps per-cluster state between rounds (histories,
 *   own connections, watches): the session holds it and close() releases it.
 */
export type FeatureDefinition<Options> = FeatureDeclaration<Options> &
  (
    | {
        readonly inspect: (
          cluster: ClusterHandle,
          signal: AbortSignal,
          options: Options,
        ) => Promise<InspectionOutcome>;
        readonly open?: never;
      }
    | {
        readonly open: (cluster: ClusterHandle, options: Options) => FeatureSession;
        readonly inspect?: never;
      }
  );

/** The Feature the registry holds, made from its definition (see docs/development.md, "A feature"). */
export function defineFeature<Options = Record<string, never>>(
  definition: FeatureDefinition<Options>,
): Feature<Options> {
  const { name } = definition;
  const parseOptions = definition.parseOptions ?? ((raw) => noOptions(name, raw) as Options);
  return Object.freeze({
    name,
    description: definition.description,
    backends: Object.freeze([...(definition.backends ?? ['v3', 'v2'])]),
    defaultIntervalSeconds: definition.defaultIntervalSeconds,
    metrics: Object.freeze(Object.values(definition.metrics)),
    optionsSchema: definition.optionsSchema,
    parseOptions,
    open: definition.open ?? sessionless(definition.inspect),
  });
}

/** The session of a feature that keeps nothing between rounds. */
function sessionless<Options>(
  inspect: (cluster: ClusterHandle, signal: AbortSignal, options: Options) => Promise<InspectionOutcome>,
): (cluster: ClusterHandle, options: Options) => FeatureSession {
  return (cluster, options) => ({
    inspect: (signal) => inspect(cluster, signal, options),
    close: async () => {},
  });
}

/** The options of a feature that takes none: {} (anything given is a mistake worth naming). */
function noOptions(
  feature: string,
  raw: Readonly<Record<string, unknown>> | undefined,
): Record<string, never> {
  const given = Object.keys(raw ?? {});
  if (given.length > 0)
    throw new OptionsError(
      `options of feature ${feature}: ${given.map((field) => `unknown field ${field}`).join('; ')}`,
    );
  return {};
}

// ---- feature specs ------------------------------------------------------------------

/** A feature of a cluster as an adapter reads it (config file, flags, EtcdCluster); nothing checked yet. */
export interface FeatureRequest {
  /** Default true. */
  readonly enabled?: boolean;
  /** Default: the feature's defaultIntervalSeconds. */
  readonly intervalSeconds?: number;
  /** Deadline of one round; default: the interval, at most 60 s. */
  readonly timeoutSeconds?: number;
  readonly options?: Readonly<Record<string, unknown>>;
}

/**
 * An enabled feature of a cluster as the registry accepted it
 * (FeatureRegistry.check): known, supported on the cluster's backend, its
 * interval settled and its options parsed, once. What the engine runs.
 */
export interface FeatureSpec {
  readonly feature: Feature;
  readonly intervalSeconds: number;
  readonly timeoutSeconds?: number;
  /** The output of feature.parseOptions, handed to open() as it is. */
  readonly options: unknown;
}

/** What is wrong with a feature request; field is relative to the feature ('' for the feature itself). */
export interface FeatureProblem {
  readonly field: '' | 'enabled' | 'intervalSeconds' | 'timeoutSeconds' | 'options';
  readonly message: string;
}

export type FeatureCheck =
  /** spec undefined: a valid request of a disabled feature. */
  | { readonly ok: true; readonly spec: FeatureSpec | undefined }
  | { readonly ok: false; readonly problems: readonly FeatureProblem[] };

/** "features.consistency.options: ..." for each problem of the feature at `at` (e.g. "clusters[0].features.consistency"). */
export function formatFeatureProblems(at: string, problems: readonly FeatureProblem[]): string[] {
  return problems.map((p) => `${at}${p.field === '' ? '' : `.${p.field}`}: ${p.message}`);
}
