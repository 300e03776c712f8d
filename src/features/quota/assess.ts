/**
 * The quota verdict of one member, as pure functions of its Status answers
 * over time: usage of the quota, fragmentation, growth and time until full.
 */
import type { Finding } from '../../findings.ts';
import { humanBytes, humanDuration, percent } from '../units.ts';

export interface QuotaThresholds {
  readonly warningRatio: number;
  readonly criticalRatio: number;
  /** A warning when the db would reach the quota within this time at its current growth; 0: off. */
  readonly fullWithinSeconds: number;
  readonly defragFragmentationRatio: number;
  readonly defragMinReclaimableBytes: number;
}

export type QuotaLevel = 'ok' | 'warning' | 'critical';

export const LEVEL_VALUE: Readonly<Record<QuotaLevel, number>> = { ok: 0, warning: 1, critical: 2 };

export interface SizeSample {
  readonly atMs: number;
  readonly bytes: number;
}

/**
 * The db sizes of one member within a sliding window. A shrinking db
 * (defragmentation, a restored snapshot) starts a new history: a slope
 * across the drop would describe neither before nor after.
 */
export class GrowthHistory {
  readonly #windowMs: number;
  #samples: SizeSample[] = [];

  constructor(windowSeconds: number) {
    this.#windowMs = windowSeconds * 1000;
  }

  add(sample: SizeSample): void {
    const last = this.#samples.at(-1);
    if (last !== undefined && (sample.bytes < last.bytes || sample.atMs <= last.atMs)) this.#samples = [];
    this.#samples.push(sample);
    const from = sample.atMs - this.#windowMs;
    // The two latest samples stay even when older than the window, so an
    // interval longer than the window still gives a rate.
    while (this.#samples.length > 2 && this.#samples[0]!.atMs < from) this.#samples.shift();
  }

  get samples(): readonly SizeSample[] {
    return this.#samples;
  }

  /** Bytes per second: the least-squares slope of size over time; undefined with fewer than two samples. */
  rate(): number | undefined {
    return growthRate(this.#samples);
  }
}

export function growthRate(samples: readonly SizeSample[]): number | undefined {
  if (samples.length < 2) return undefined;
  const t0 = samples[0]!.atMs;
  const n = samples.length;
  let sx = 0;
  let sy = 0;
  for (const s of samples) {
    sx += (s.atMs - t0) / 1000;
    sy += s.bytes;
  }
  const mx = sx / n;
  const my = sy / n;
  let sxy = 0;
  let sxx = 0;
  for (const s of samples) {
    const dx = (s.atMs - t0) / 1000 - mx;
    sxy += dx * (s.bytes - my);
    sxx += dx * dx;
  }
  return sxx === 0 ? undefined : sxy / sxx;
}

export interface MemberQuotaInput {
  /** Where, for the findings: "127.0.0.1:2379 (etcd-0)". */
  readonly where: string;
  readonly dbSize: number;
  readonly dbSizeInUse: number;
  /** 0 when the member does not report it (before 3.6). */
  readonly reportedQuota: number;
  readonly configuredQuota: number;
  /** Bytes per second; undefined until two samples exist. */
  readonly growthRate: number | undefined;
  readonly isLeader: boolean;
}

export interface MemberQuota {
  readonly quotaBytes: number;
  readonly quotaSource: 'reported' | 'configured';
  readonly usageRatio: number;
  readonly fragmentationRatio: number;
  readonly reclaimableBytes: number;
  readonly growthBytesPerSecond: number | undefined;
  /** undefined when the db is not growing. */
  readonly secondsUntilFull: number | undefined;
  readonly level: QuotaLevel;
  readonly defragmentAdvised: boolean;
  readonly problems: readonly string[];
  /** The same problems for the why section: the figure, its threshold, what to do. */
  readonly findings: readonly Finding[];
}

export function assessMember(input: MemberQuotaInput, t: QuotaThresholds): MemberQuota {
  const quotaSource = input.reportedQuota > 0 ? 'reported' : 'configured';
  const quotaBytes = input.reportedQuota > 0 ? input.reportedQuota : input.configuredQuota;
  const usageRatio = input.dbSize / quotaBytes;
  const reclaimableBytes = Math.max(0, input.dbSize - input.dbSizeInUse);
  const fragmentationRatio = input.dbSize > 0 ? reclaimableBytes / input.dbSize : 0;
  const rate = input.growthRate;
  const secondsUntilFull =
    rate === undefined || rate <= 0
      ? undefined
      : input.dbSize >= quotaBytes
        ? 0
        : (quotaBytes - input.dbSize) / rate;
  const defragmentAdvised =
    fragmentationRatio > t.defragFragmentationRatio && reclaimableBytes > t.defragMinReclaimableBytes;

  let level: QuotaLevel = 'ok';
  if (usageRatio >= t.criticalRatio) level = 'critical';
  else if (usageRatio >= t.warningRatio) level = 'warning';
  const fillsSoon =
    secondsUntilFull !== undefined && t.fullWithinSeconds > 0 && secondsUntilFull <= t.fullWithinSeconds;
  if (level === 'ok' && fillsSoon) level = 'warning';

  const problems: string[] = [];
  const findings: Finding[] = [];
  const growth =
    rate !== undefined && rate > 0 && secondsUntilFull !== undefined
      ? `, growing ${humanBytes(Math.round(rate))}/s: full in ${humanDuration(secondsUntilFull)} at this rate`
      : '';
  const quotaText = `the ${humanBytes(quotaBytes)} quota${quotaSource === 'configured' ? ' (option quotaBytes; etcd before 3.6 does not report it)' : ''}`;
  if (level !== 'ok') {
    const crossed =
      usageRatio >= t.criticalRatio
        ? `critical at ${percent(t.criticalRatio)}`
        : usageRatio >= t.warningRatio
          ? `warning at ${percent(t.warningRatio)}`
          : `warning when full within ${humanDuration(t.fullWithinSeconds)}`;
    const fix =
      reclaimableBytes >= input.dbSize * 0.2
        ? `defragment to reclaim ${humanBytes(reclaimableBytes)} (one member at a time, leader last)`
        : 'compact to a recent revision, then defragment one member at a time, leader last; if little is reclaimed, delete data or raise --quota-backend-bytes';
    const runbook = level === 'critical' ? 'EtcdDatabaseQuotaCritical' : 'EtcdDatabaseQuotaWarning';
    problems.push(
      `${level}: ${input.where}: db ${humanBytes(input.dbSize)} is ${percent(usageRatio)} of ${quotaText} (${crossed})${growth}; at the quota etcd raises NOSPACE and refuses writes: ${fix}; see docs/runbooks.md (${runbook})`,
    );
    const action = `${fix}; at the quota etcd raises NOSPACE and refuses writes`;
    const quotaNote = quotaSource === 'configured' ? ' (option quotaBytes)' : '';
    if (usageRatio >= t.warningRatio) {
      findings.push({
        member: input.where,
        cause:
          usageRatio >= 1
            ? 'database full'
            : level === 'critical'
              ? 'database nearly full'
              : 'database filling up',
        measure: `db size ${humanBytes(input.dbSize)} of the ${humanBytes(quotaBytes)} quota${quotaNote}`,
        value: usageRatio,
        threshold: level === 'critical' ? t.criticalRatio : t.warningRatio,
        unit: 'ratio',
        severity: level,
        action,
        runbook,
      });
    }
    if (fillsSoon) {
      findings.push({
        member: input.where,
        cause: 'database growing toward its quota',
        measure: `time until the ${humanBytes(quotaBytes)} quota${quotaNote} is full at ${humanBytes(Math.round(rate ?? 0))}/s`,
        value: secondsUntilFull,
        threshold: t.fullWithinSeconds,
        unit: 'seconds',
        severity: 'warning',
        action: `${action}; find what writes so much (inspection_etcd_key_total per resource)`,
        runbook: 'EtcdDatabaseQuotaWarning',
      });
    }
  }
  if (defragmentAdvised) {
    problems.push(
      `${input.where}: ${percent(fragmentationRatio)} of the ${humanBytes(input.dbSize)} db is free space (${humanBytes(reclaimableBytes)} reclaimable, advised above ${percent(t.defragFragmentationRatio)} and ${humanBytes(t.defragMinReclaimableBytes)}): defragment this member${input.isLeader ? ' (the leader: do it last, after the followers)' : ''}, one member at a time; it blocks the member's reads and writes while it runs; see docs/runbooks.md (EtcdDatabaseDefragmentAdvised)`,
    );
    findings.push({
      member: input.where,
      cause: 'fragmented database',
      measure: `free space in the ${humanBytes(input.dbSize)} db (${humanBytes(reclaimableBytes)} reclaimable)`,
      value: fragmentationRatio,
      threshold: t.defragFragmentationRatio,
      unit: 'ratio',
      severity: 'warning',
      action: `defragment this member${input.isLeader ? ' (the leader: last, after the followers)' : ''}, one member at a time; it blocks the member's reads and writes while it runs`,
      runbook: 'EtcdDatabaseDefragmentAdvised',
    });
  }
  return {
    quotaBytes,
    quotaSource,
    usageRatio,
    fragmentationRatio,
    reclaimableBytes,
    growthBytesPerSecond: rate,
    secondsUntilFull,
    level,
    defragmentAdvised,
    problems,
    findings,
  };
}
