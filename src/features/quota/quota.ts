/**
 * quota: will a member's backend fill up? Per member, one Status call per
 * round gives the db size, the size in use and (3.6+) the quota; the session
 * keeps each member's sizes over a window for the growth rate.
 */
import { Type, type Static } from '@sinclair/typebox';
import { memberIdHex } from '../../etcd/types.ts';
import { family, type MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import {
  defineFeature,
  failedOutcome,
  OptionsError,
  type ClusterHandle,
  type FeatureSession,
  type InspectionOutcome,
} from '../../engine/contract.ts';
import { forEachMember } from '../members.ts';
import { parseOptions } from '../options.ts';
import { humanBytes, humanDuration, memberLabel, percent } from '../units.ts';
import type { Finding } from '../../findings.ts';
import { assessMember, GrowthHistory, LEVEL_VALUE, type MemberQuota } from './assess.ts';

/** etcd's default --quota-backend-bytes. */
export const ETCD_DEFAULT_QUOTA_BYTES = 2 * 1024 ** 3;

export const QUOTA_METRICS = {
  quota: family.gauge(
    'inspection_etcd_quota_bytes',
    'The backend quota in effect for the member: reported by etcd 3.6+, else the option quotaBytes.',
    ['endpoint'],
  ),
  usage: family.gauge(
    'inspection_etcd_quota_usage_ratio',
    'db size / quota (0..1+); etcd raises NOSPACE when a write would exceed the quota.',
    ['endpoint'],
  ),
  level: family.gauge(
    'inspection_etcd_quota_level',
    'The quota verdict: 0 ok, 1 warning, 2 critical (thresholds of the quota feature).',
    ['endpoint'],
  ),
  fragmentation: family.gauge(
    'inspection_etcd_db_fragmentation_ratio',
    '1 - size in use / db size: the share of the db file defragmentation would give back.',
    ['endpoint'],
  ),
  reclaimable: family.gauge(
    'inspection_etcd_db_reclaimable_bytes',
    'db size - size in use: bytes defragmentation would give back.',
    ['endpoint'],
  ),
  defrag: family.gauge(
    'inspection_etcd_db_defragment_advised',
    '1 when fragmentation and reclaimable bytes both exceed the thresholds of the quota feature.',
    ['endpoint'],
  ),
  growth: family.gauge(
    'inspection_etcd_db_growth_bytes_per_second',
    'Growth of the db size (least-squares slope over the growth window); negative when shrinking.',
    ['endpoint'],
  ),
  untilFull: family.gauge(
    'inspection_etcd_quota_seconds_until_full',
    'Estimated seconds until the db reaches the quota at the current growth; absent when not growing.',
    ['endpoint'],
  ),
} as const satisfies Record<string, MetricDefinition>;

export const QuotaOptionsSchema = Type.Object(
  {
    quotaBytes: Type.Integer({
      minimum: 1,
      default: ETCD_DEFAULT_QUOTA_BYTES,
      description:
        "The members' --quota-backend-bytes, for members that do not report it (before 3.6); default etcd's 2 GiB.",
    }),
    warningRatio: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.75 }),
    criticalRatio: Type.Number({ exclusiveMinimum: 0, maximum: 1, default: 0.9 }),
    growthWindowSeconds: Type.Integer({
      minimum: 1,
      maximum: 7 * 86_400,
      default: 3600,
      description: 'Window of the linear growth estimate.',
    }),
    fullWithinSeconds: Type.Integer({
      minimum: 0,
      default: 6 * 3600,
      description: 'Warn when the db would reach the quota within this time at its current growth; 0: off.',
    }),
    defragFragmentationRatio: Type.Number({ minimum: 0, maximum: 1, default: 0.45 }),
    defragMinReclaimableBytes: Type.Integer({ minimum: 0, default: 100 * 1024 ** 2 }),
  },
  { additionalProperties: false },
);

export type QuotaOptions = Static<typeof QuotaOptionsSchema>;

export function parseQuotaOptions(raw: unknown): QuotaOptions {
  const options = parseOptions('quota', QuotaOptionsSchema, raw);
  if (options.warningRatio >= options.criticalRatio) {
    throw new OptionsError(
      `options of feature quota: warningRatio (${options.warningRatio}) must be below criticalRatio (${options.criticalRatio})`,
    );
  }
  return options;
}

export interface MemberQuotaDetails extends Omit<MemberQuota, 'problems' | 'findings'> {
  readonly endpoint: string;
  readonly id: string | undefined;
  readonly name: string;
  readonly dbSizeBytes: number;
  readonly dbSizeInUseBytes: number;
  readonly error?: string;
}

export interface QuotaDetails {
  readonly members: readonly (MemberQuotaDetails | { endpoint: string; name: string; error: string })[];
}

class QuotaSession implements FeatureSession {
  readonly #cluster: ClusterHandle;
  readonly #options: QuotaOptions;
  /** Size histories by member (ID when known, else endpoint); members gone are dropped each round. */
  readonly #histories = new Map<string, GrowthHistory>();

  constructor(cluster: ClusterHandle, options: QuotaOptions) {
    this.#cluster = cluster;
    this.#options = options;
  }

  async inspect(signal: AbortSignal): Promise<InspectionOutcome> {
    const members = this.#cluster.members();
    const results = await forEachMember(members, async (m) => ({
      status: await m.v3().status({ signal }),
      atMs: Date.now(),
    }));
    const seen = new Set<string>();
    const details: QuotaDetails['members'][number][] = [];
    const metrics: MetricSample[] = [];
    const problems: string[] = [];
    const findings: Finding[] = [];
    const unknown: string[] = [];
    let worst: { ratio: number; text: string } | undefined;
    for (const r of results) {
      const snap = r.member.snapshot;
      const where = memberLabel(snap.endpoint, snap.name);
      if (r.result === undefined) {
        // An unstarted member has no db yet: nothing to say about its quota.
        if (r.member.endpoint !== undefined) unknown.push(`${where}: ${r.error}`);
        details.push({ endpoint: snap.endpoint, name: snap.name, error: r.error });
        continue;
      }
      const { status, atMs } = r.result;
      const key = memberIdHex(status.header.memberId);
      seen.add(key);
      let history = this.#histories.get(key);
      if (history === undefined) {
        history = new GrowthHistory(this.#options.growthWindowSeconds);
        this.#histories.set(key, history);
      }
      const dbSize = Number(status.dbSize);
      history.add({ atMs, bytes: dbSize });
      const verdict = assessMember(
        {
          where,
          dbSize,
          dbSizeInUse: Number(status.dbSizeInUse),
          reportedQuota: Number(status.dbSizeQuota),
          configuredQuota: this.#options.quotaBytes,
          growthRate: history.rate(),
          isLeader: status.leader !== 0n && status.leader === status.header.memberId,
        },
        this.#options,
      );
      problems.push(...verdict.problems);
      findings.push(...verdict.findings);
      const { problems: _p, findings: _f, ...rest } = verdict;
      details.push({
        endpoint: snap.endpoint,
        id: key,
        name: snap.name,
        dbSizeBytes: dbSize,
        dbSizeInUseBytes: Number(status.dbSizeInUse),
        ...rest,
      });
      if (worst === undefined || verdict.usageRatio > worst.ratio) {
        worst = {
          ratio: verdict.usageRatio,
          text: `${humanBytes(dbSize)} of ${humanBytes(verdict.quotaBytes)} (${percent(verdict.usageRatio)}) on ${where}${
            verdict.secondsUntilFull !== undefined && verdict.growthBytesPerSecond !== undefined
              ? `, growing ${humanBytes(Math.round(verdict.growthBytesPerSecond))}/s, full in ${humanDuration(verdict.secondsUntilFull)}`
              : ''
          }`,
        };
      }
      const labels = { endpoint: snap.endpoint };
      const put = (def: { name: string }, value: number): void => {
        metrics.push({ name: def.name, labels, value });
      };
      put(QUOTA_METRICS.quota, verdict.quotaBytes);
      put(QUOTA_METRICS.usage, verdict.usageRatio);
      put(QUOTA_METRICS.level, LEVEL_VALUE[verdict.level]);
      put(QUOTA_METRICS.fragmentation, verdict.fragmentationRatio);
      put(QUOTA_METRICS.reclaimable, verdict.reclaimableBytes);
      put(QUOTA_METRICS.defrag, verdict.defragmentAdvised ? 1 : 0);
      if (verdict.growthBytesPerSecond !== undefined) put(QUOTA_METRICS.growth, verdict.growthBytesPerSecond);
      if (verdict.secondsUntilFull !== undefined) put(QUOTA_METRICS.untilFull, verdict.secondsUntilFull);
    }
    for (const key of this.#histories.keys()) if (!seen.has(key)) this.#histories.delete(key);
    if (worst === undefined) {
      const error = `no member answered Status: ${unknown.join('; ') || 'no members known'}`;
      return failedOutcome(error, { summary: error, details: { members: details } });
    }
    const summary = [
      `largest: ${worst.text}`,
      ...(unknown.length > 0 ? [`unknown: ${unknown.join('; ')}`] : []),
    ].join('; ');
    return {
      ok: true,
      summary,
      problems,
      findings,
      details: { members: details } satisfies QuotaDetails,
      metrics,
    };
  }

  async close(): Promise<void> {
    this.#histories.clear();
  }
}

export const quotaFeature = defineFeature({
  name: 'quota',
  description: 'Per member: db size against the backend quota, fragmentation, growth and time until NOSPACE.',
  defaultIntervalSeconds: 60,
  metrics: QUOTA_METRICS,
  optionsSchema: QuotaOptionsSchema,
  parseOptions: parseQuotaOptions,
  open: (cluster, options) => new QuotaSession(cluster, options),
});
