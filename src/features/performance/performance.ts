/**
 * performance: why is etcd slow? Each round reads every member's own
 * Prometheus endpoint once (its client URL's /metrics, or a metrics URL of
 * its own, with the cluster's TLS) and judges what happened since the
 * previous round: WAL fsync, backend commit and apply p99, slow applies,
 * peer round trips, heartbeat failures, leader changes, proposals, memory.
 * A member without a previous reading (first round, new member) is read
 * twice, baselineSeconds apart: a figure always covers an interval, never
 * the time since the process started.
 */
import { Type, type Static } from '@sinclair/typebox';
import { parseEndpoint, type Endpoint } from '../../etcd/endpoint.ts';
import { memberIdHex, type MetricsText } from '../../etcd/types.ts';
import { errorMessage, redactUserinfo } from '../../errors.ts';
import { realClock, sleep, type Clock } from '../../clock.ts';
import { formatFigure, formatFinding } from '../../findings.ts';
import { family, type MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import {
  defineFeature,
  failedOutcome,
  OptionsError,
  type ClusterHandle,
  type EtcdHttpView,
  type FeatureSession,
  type InspectionOutcome,
  type MemberHandle,
  type OwnedHttpReadClient,
} from '../../engine/contract.ts';
import { forEachMember } from '../members.ts';
import { parseOptions } from '../options.ts';
import { memberLabel } from '../units.ts';
import { assessMember, CAUSES, commonLinkMember, levelsByCause, type PerformanceFinding } from './assess.ts';
import { figuresBetween, readMetrics, type MemberFigures, type Reading } from './figures.ts';

const endpointLabel = ['endpoint'] as const;

export const PERFORMANCE_METRICS = {
  up: family.gauge(
    'inspection_etcd_member_metrics_up',
    "1 when the member's own /metrics was read this round, 0 when it could not be (the error is in the API and the status page).",
    endpointLabel,
  ),
  window: family.gauge(
    'inspection_etcd_member_performance_window_seconds',
    'The interval between the two readings of the member the performance figures cover.',
    endpointLabel,
  ),
  walFsync: family.gauge(
    'inspection_etcd_member_wal_fsync_p99_seconds',
    'p99 of the WAL fsync durations over the interval (etcd guidance: below 10 ms).',
    endpointLabel,
  ),
  backendCommit: family.gauge(
    'inspection_etcd_member_backend_commit_p99_seconds',
    'p99 of the backend (bbolt) commit durations over the interval (etcd guidance: below 25 ms).',
    endpointLabel,
  ),
  apply: family.gauge(
    'inspection_etcd_member_apply_p99_seconds',
    'p99 of the apply durations over the interval (etcd 3.5+; etcd logs applies above 100 ms).',
    endpointLabel,
  ),
  slowApplies: family.gauge(
    'inspection_etcd_member_slow_applies_per_second',
    'Applies slower than 100 ms (etcd_server_slow_apply_total), per second over the interval.',
    endpointLabel,
  ),
  peerRoundTrip: family.gauge(
    'inspection_etcd_member_peer_round_trip_p99_seconds',
    "p99 of the member's probes to a peer over the interval (etcd guidance: below 150 ms); peer is the peer's endpoint.",
    ['endpoint', 'peer'],
  ),
  peerSendFailures: family.gauge(
    'inspection_etcd_member_peer_send_failures_per_second',
    'Raft messages the member failed to send to a peer, per second over the interval.',
    ['endpoint', 'peer'],
  ),
  heartbeatFailures: family.gauge(
    'inspection_etcd_member_heartbeat_send_failures_per_second',
    'Heartbeats the member (as leader) could not send in time, per second over the interval.',
    endpointLabel,
  ),
  leaderChanges: family.gauge(
    'inspection_etcd_member_leader_changes_per_second',
    'Leader changes the member saw, per second over the interval.',
    endpointLabel,
  ),
  proposalsFailed: family.gauge(
    'inspection_etcd_member_proposals_failed_per_second',
    'Failed raft proposals (lost leader or quorum), per second over the interval.',
    endpointLabel,
  ),
  proposalsPending: family.gauge(
    'inspection_etcd_member_proposals_pending',
    'Raft proposals waiting to be committed, as the member last reported.',
    endpointLabel,
  ),
  rss: family.gauge(
    'inspection_etcd_member_resident_memory_bytes',
    "The member process's resident memory, as it last reported.",
    endpointLabel,
  ),
  level: family.gauge(
    'inspection_etcd_member_performance_level',
    `Per member and cause: 0 within bounds, 1 warning, 2 critical (thresholds of the performance feature). cause: ${Object.keys(CAUSES).join(', ')}.`,
    ['endpoint', 'cause'],
  ),
} as const satisfies Record<string, MetricDefinition>;

const seconds = (def: number, description: string) =>
  Type.Number({ exclusiveMinimum: 0, maximum: 3600, default: def, description });
const count = (def: number, description: string) => Type.Integer({ minimum: 0, default: def, description });

export const PerformanceOptionsSchema = Type.Object(
  {
    walFsyncP99Seconds: seconds(0.01, 'WAL fsync p99 above this is a slow disk (etcd: below 10 ms).'),
    backendCommitP99Seconds: seconds(
      0.025,
      'Backend commit p99 above this is a slow disk (etcd: below 25 ms).',
    ),
    applyP99Seconds: seconds(0.1, 'Apply p99 above this is slow (etcd warns of applies above 100 ms).'),
    peerRoundTripP99Seconds: seconds(
      0.15,
      'Peer round-trip p99 above this is a slow link (etcd: below 150 ms).',
    ),
    criticalFactor: Type.Number({
      minimum: 1,
      default: 10,
      description: 'A latency this many times its threshold is critical, not a warning.',
    }),
    slowApplies: count(0, 'Slow applies (> 100 ms) allowed in one interval.'),
    heartbeatFailures: count(0, 'Heartbeat send failures allowed in one interval.'),
    leaderChanges: count(
      1,
      'Leader changes seen allowed in one interval (one election is normal: a restart, a move).',
    ),
    proposalsFailed: count(
      5,
      'Failed proposals allowed in one interval (an election fails the proposals in flight).',
    ),
    proposalsPending: count(100, 'Pending proposals above this are a backlog.'),
    residentMemoryBytes: count(0, "The member's resident memory above this is a finding; 0: no bound."),
    baselineSeconds: Type.Integer({
      minimum: 1,
      maximum: 60,
      default: 5,
      description:
        'A member without a previous reading is read twice this far apart in the same round (first round, new member, `inspect`).',
    }),
    metricsPort: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 65535,
        description:
          "Read /metrics on this port of each member's client host (etcd's --listen-metrics-urls) instead of the client URL.",
      }),
    ),
    metricsScheme: Type.Union([Type.Literal('http'), Type.Literal('https')], {
      default: 'http',
      description: 'Scheme of metricsPort (https uses the cluster TLS settings).',
    }),
    metricsURLs: Type.Record(Type.String({ minLength: 1 }), Type.String({ minLength: 1 }), {
      default: {},
      description:
        'Per member (by name or client host:port): the full URL of its metrics, e.g. http://10.0.0.1:2381/metrics. Wins over metricsPort.',
    }),
    maxBytes: Type.Integer({
      minimum: 64 * 1024,
      maximum: 64 * 1024 * 1024,
      default: 8 * 1024 * 1024,
      description: 'Limit on one /metrics answer (etcd serves 150-250 KB).',
    }),
  },
  { additionalProperties: false },
);

export type PerformanceOptions = Static<typeof PerformanceOptionsSchema>;

interface MetricsTarget {
  readonly endpoint: Endpoint;
  readonly path: string;
}

/** "http://10.0.0.1:2381/metrics" -> endpoint and path; the error names the member key. */
function parseMetricsUrl(key: string, raw: string): MetricsTarget {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    // Quoted without its userinfo: a URL may carry a password, and errors end up in logs.
    throw new OptionsError(
      `options of feature performance: metricsURLs.${key}: "${redactUserinfo(raw)}" is not a URL`,
    );
  }
  if (url.username !== '' || url.password !== '')
    throw new OptionsError(
      `options of feature performance: metricsURLs.${key}: carries credentials in the URL: etcd serves /metrics without a password (to the cluster's TLS client certificate where it asks for one); write ${url.protocol}//${url.host}${url.pathname}`,
    );
  if (url.search !== '' || url.hash !== '')
    throw new OptionsError(
      `options of feature performance: metricsURLs.${key}: no query or fragment, please`,
    );
  try {
    const endpoint = parseEndpoint(url.origin);
    return { endpoint, path: url.pathname === '/' || url.pathname === '' ? '/metrics' : url.pathname };
  } catch (err) {
    throw new OptionsError(`options of feature performance: metricsURLs.${key}: ${errorMessage(err)}`);
  }
}

export interface ParsedPerformanceOptions extends PerformanceOptions {
  readonly metricsTargets: ReadonlyMap<string, MetricsTarget>;
}

export function parsePerformanceOptions(raw: unknown): ParsedPerformanceOptions {
  const options = parseOptions('performance', PerformanceOptionsSchema, raw);
  const metricsTargets = new Map<string, MetricsTarget>();
  for (const [key, url] of Object.entries(options.metricsURLs))
    metricsTargets.set(key, parseMetricsUrl(key, url));
  return { ...options, metricsTargets };
}

export interface MemberPerformanceDetails {
  readonly endpoint: string;
  readonly name: string;
  readonly id: string | undefined;
  /** Where its metrics were read. */
  readonly metricsUrl: string;
  /** Why they could not be (the rest of the round still counts). */
  readonly error?: string;
  readonly bytes?: number;
  readonly readMs?: number;
  readonly figures?: MemberFigures;
}

export interface PerformanceDetails {
  readonly members: readonly MemberPerformanceDetails[];
  readonly findings: readonly PerformanceFinding[];
}

interface Scrape {
  readonly reading: Reading;
  readonly bytes: number;
  readonly readMs: number;
}

export class PerformanceSession implements FeatureSession {
  readonly #cluster: ClusterHandle;
  readonly #options: ParsedPerformanceOptions;
  /** Each member's last successful reading, by member ID (endpoint until known); members gone are dropped. */
  readonly #previous = new Map<string, Reading>();
  /** Clients of metrics URLs that are not a member's client URL, by URL. */
  readonly #owned = new Map<string, OwnedHttpReadClient>();

  readonly #clock: Clock;

  constructor(cluster: ClusterHandle, options: ParsedPerformanceOptions, clock: Clock = realClock) {
    this.#cluster = cluster;
    this.#options = options;
    this.#clock = clock;
  }

  /** Where a member's metrics are: a configured URL, the metrics port on its host, or its client URL. */
  #target(
    member: MemberHandle,
  ): { client: EtcdHttpView; path: string; url: string; owned?: string } | undefined {
    const endpoint = member.endpoint;
    if (endpoint === undefined) return undefined;
    const o = this.#options;
    let target = o.metricsTargets.get(member.snapshot.name) ?? o.metricsTargets.get(endpoint.hostPort);
    if (target === undefined && o.metricsPort !== undefined) {
      target = {
        endpoint: parseEndpoint(
          `${o.metricsScheme}://${endpoint.hostPort.replace(/:\d+$/, '')}:${o.metricsPort}`,
        ),
        path: '/metrics',
      };
    }
    if (target === undefined)
      return { client: member.http(), path: '/metrics', url: `${endpoint.url}/metrics` };
    let owned = this.#owned.get(target.endpoint.url);
    if (owned === undefined) {
      owned = this.#cluster.openHttpClient(target.endpoint);
      this.#owned.set(target.endpoint.url, owned);
    }
    return {
      client: owned.client,
      path: target.path,
      url: `${target.endpoint.url}${target.path}`,
      owned: target.endpoint.url,
    };
  }

  /**
   * One reading of the member's metrics. `maxAgeMs`: a reading that recent
   * taken for another cluster naming the same member will do (its time is
   * when it was read); 0 for the second reading of a baseline, which must
   * be new.
   */
  async #scrape(member: MemberHandle, signal: AbortSignal, maxAgeMs: number): Promise<Scrape> {
    const target = this.#target(member);
    if (target === undefined) throw new Error('member has no client URL');
    const t0 = performance.now();
    let answer: MetricsText;
    try {
      answer = await target.client.metrics({
        signal,
        path: target.path,
        maxBytes: this.#options.maxBytes,
        maxAgeMs,
      });
    } catch (err) {
      throw new Error(`cannot read ${target.url}: ${errorMessage(err)}`);
    }
    const readMs = performance.now() - t0;
    const reading = readMetrics(answer.text, this.#clock.now() - (answer.ageMs ?? 0));
    const id = member.snapshot.id;
    // A metrics URL that serves another member would blame the wrong one.
    if (id !== undefined && reading.serverId !== undefined && reading.serverId !== memberIdHex(id)) {
      throw new Error(
        `${target.url} serves the metrics of member ${reading.serverId}, not of this member (${memberIdHex(id)})`,
      );
    }
    if (reading.walFsync === undefined && reading.leaderChanges === undefined) {
      throw new Error(
        `${target.url} has no etcd metrics (etcd_disk_wal_fsync_duration_seconds, etcd_server_*)`,
      );
    }
    return { reading, bytes: answer.bytes, readMs };
  }

  #key(member: MemberHandle): string {
    return member.snapshot.id !== undefined ? memberIdHex(member.snapshot.id) : member.snapshot.endpoint;
  }

  async inspect(signal: AbortSignal): Promise<InspectionOutcome> {
    const members = this.#cluster.members();
    // A shared reading may be half a baseline old, and never as old as this member's previous
    // reading: every figure still covers an interval (at least half of it).
    const now = this.#clock.now();
    const shareMs = (m: MemberHandle): number => {
      const half = (this.#options.baselineSeconds * 1000) / 2;
      const previous = this.#previous.get(this.#key(m));
      return previous === undefined ? half : Math.max(0, Math.min(half, (now - previous.atMs) / 2));
    };
    let results = await forEachMember(members, (m) => this.#scrape(m, signal, shareMs(m)));
    const needBaseline = results.filter(
      (r) => r.result !== undefined && !this.#previous.has(this.#key(r.member)),
    );
    if (needBaseline.length > 0) {
      for (const r of needBaseline) this.#previous.set(this.#key(r.member), (r.result as Scrape).reading);
      await sleep(this.#clock, this.#options.baselineSeconds * 1000, signal);
      const again = await forEachMember(
        needBaseline.map((r) => r.member),
        (m) => this.#scrape(m, signal, 0),
      );
      results = results.map((r) => again.find((a) => a.member === r.member) ?? r);
    }

    const peerNames = new Map<string, string>();
    const peerEndpoints = new Map<string, string>();
    for (const m of members) {
      if (m.snapshot.id === undefined) continue;
      peerNames.set(memberIdHex(m.snapshot.id), linkName(m.snapshot));
      peerEndpoints.set(memberIdHex(m.snapshot.id), m.snapshot.endpoint);
    }
    const seen = new Set<string>();
    const details: MemberPerformanceDetails[] = [];
    const findings: PerformanceFinding[] = [];
    const metrics: MetricSample[] = [];
    const unknown: string[] = [];
    let answered = 0;
    for (const r of results) {
      const snap = r.member.snapshot;
      const where = memberLabel(snap.endpoint, snap.name);
      const key = this.#key(r.member);
      seen.add(key);
      const base = {
        endpoint: snap.endpoint,
        name: snap.name,
        id: snap.id === undefined ? undefined : memberIdHex(snap.id),
        metricsUrl: this.#target(r.member)?.url ?? '',
      };
      const labels = { endpoint: snap.endpoint };
      if (r.result === undefined) {
        const error = r.error ?? 'no answer';
        // An unstarted member (no client URL) has nothing to read yet: not an unknown.
        if (r.member.endpoint !== undefined) {
          unknown.push(`${where}: ${error}`);
          metrics.push({ name: PERFORMANCE_METRICS.up.name, labels, value: 0 });
        }
        details.push({ ...base, error });
        continue;
      }
      answered++;
      const previous = this.#previous.get(key);
      const { reading, bytes, readMs } = r.result;
      this.#previous.set(key, reading);
      const figures = figuresBetween(previous ?? reading, reading);
      const memberFindings = assessMember(
        { where, linkName: linkName(snap), figures, peerName: (id) => peerNames.get(id) ?? id },
        this.#options,
      );
      findings.push(...memberFindings);
      details.push({ ...base, bytes, readMs: Math.round(readMs * 10) / 10, figures });
      metrics.push(...memberSeries(labels, figures, memberFindings, peerEndpoints));
    }
    for (const key of this.#previous.keys()) if (!seen.has(key)) this.#previous.delete(key);
    this.#closeUnusedTargets(members);

    const detailsOut: PerformanceDetails = { members: details, findings };
    if (answered === 0) {
      const error = `no member's metrics could be read: ${unknown.join('; ') || 'no members known'}`;
      return failedOutcome(error, { summary: error, details: detailsOut, metrics });
    }
    return {
      ok: true,
      summary: summarize(details, findings, unknown),
      problems: findings.map(formatFinding),
      findings,
      details: detailsOut,
      metrics,
    };
  }

  /** Clients of metrics URLs no current member uses any more are closed. */
  #closeUnusedTargets(members: readonly MemberHandle[]): void {
    const used = new Set(members.map((m) => this.#target(m)?.owned));
    for (const [url, owned] of this.#owned) {
      if (!used.has(url)) {
        this.#owned.delete(url);
        void owned.close();
      }
    }
  }

  async close(): Promise<void> {
    const owned = [...this.#owned.values()];
    this.#owned.clear();
    this.#previous.clear();
    await Promise.allSettled(owned.map((o) => o.close()));
  }
}

/** A member's name at one end of a peer link: its name, else its endpoint. */
function linkName(snapshot: { readonly name: string; readonly endpoint: string }): string {
  return snapshot.name !== '' ? snapshot.name : snapshot.endpoint;
}

function memberSeries(
  labels: { endpoint: string },
  f: MemberFigures,
  findings: readonly PerformanceFinding[],
  peerEndpoints: ReadonlyMap<string, string>,
): MetricSample[] {
  const out: MetricSample[] = [];
  const put = (
    def: { name: string },
    value: number | undefined,
    extra: Record<string, string> = {},
  ): void => {
    if (value !== undefined && Number.isFinite(value))
      out.push({ name: def.name, labels: { ...labels, ...extra }, value });
  };
  const perSecond = (n: number | undefined): number | undefined =>
    n === undefined || f.windowSeconds <= 0 ? undefined : n / f.windowSeconds;
  const M = PERFORMANCE_METRICS;
  put(M.up, 1);
  put(M.window, f.windowSeconds);
  put(M.walFsync, f.walFsyncP99Seconds);
  put(M.backendCommit, f.backendCommitP99Seconds);
  put(M.apply, f.applyP99Seconds);
  put(M.slowApplies, perSecond(f.slowApplies));
  put(M.heartbeatFailures, perSecond(f.heartbeatFailures));
  put(M.leaderChanges, perSecond(f.leaderChanges));
  put(M.proposalsFailed, perSecond(f.proposalsFailed));
  put(M.proposalsPending, f.proposalsPending);
  put(M.rss, f.rssBytes);
  for (const p of f.peers) {
    const peer = { peer: peerEndpoints.get(p.peerId) || p.peerId };
    put(M.peerRoundTrip, p.roundTripP99Seconds, peer);
    put(M.peerSendFailures, perSecond(p.sentFailures), peer);
  }
  for (const [cause, level] of Object.entries(levelsByCause(findings))) put(M.level, level, { cause });
  return out;
}

function summarize(
  details: readonly MemberPerformanceDetails[],
  findings: readonly PerformanceFinding[],
  unknown: readonly string[],
): string {
  const parts: string[] = [];
  const worstFsync = details
    .filter((d) => d.figures?.walFsyncP99Seconds !== undefined)
    .sort((a, b) => (b.figures?.walFsyncP99Seconds ?? 0) - (a.figures?.walFsyncP99Seconds ?? 0))[0];
  if (findings.length > 0) {
    const causes = [...new Set(findings.map((f) => `${f.cause} (${f.member})`))];
    parts.push(`${findings.length} figure(s) out of bounds: ${causes.join(', ')}`);
    const common = commonLinkMember(findings);
    if (common !== undefined)
      parts.push(`every slow peer link involves ${common}: look at that member first`);
  } else {
    const window = details.find((d) => d.figures !== undefined)?.figures?.windowSeconds;
    parts.push(
      `all members within bounds${window !== undefined ? ` over the last ${Math.round(window)} s` : ''}`,
    );
  }
  if (worstFsync?.figures?.walFsyncP99Seconds !== undefined) {
    parts.push(
      `slowest WAL fsync p99 ${formatFigure(worstFsync.figures.walFsyncP99Seconds, 'seconds')} on ${memberLabel(worstFsync.endpoint, worstFsync.name)}`,
    );
  }
  if (unknown.length > 0) parts.push(`unknown: ${unknown.join('; ')}`);
  return parts.join('; ');
}

export const performanceFeature = defineFeature({
  name: 'performance',
  description:
    "Per member, from its own /metrics over each interval: WAL fsync, backend commit and apply p99, peer round trips, heartbeat failures, leader changes, proposals, memory — judged against etcd's guidance.",
  defaultIntervalSeconds: 30,
  metrics: PERFORMANCE_METRICS,
  optionsSchema: PerformanceOptionsSchema,
  parseOptions: parsePerformanceOptions,
  open: (cluster, options) => new PerformanceSession(cluster, options),
});
