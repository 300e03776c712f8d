/**
 * A finding: one problem, with where (member), why (cause), what was seen
 * (a figure against the threshold it crossed, or a fact that is wrong
 * whatever its size: a hash that differs, a member never started) and what
 * to do. Features report them beside their problem sentences; `inspect`,
 * the status page and the JSON API list them all in a "why" section,
 * whatever feature found them.
 */
import { humanBytes, humanDuration } from './units.ts';

export type FindingUnit = 'seconds' | 'bytes' | 'ratio' | 'count' | 'per_second';

export interface Finding {
  /**
   * Where, as people name it: "127.0.0.1:2379 (etcd-1)", a pair of members
   * "etcd-1 ↔ etcd-3", or "cluster" for what concerns no one member.
   */
  readonly member: string;
  /** The cause in words: "slow disk", "slow peer link". */
  readonly cause: string;
  /**
   * What was measured: "WAL fsync p99"; for a fact (no value), the fact
   * itself: "hash at revision 120: 1a2b, the majority's 3c4d".
   */
  readonly measure: string;
  /** The figure, in base units; absent for a fact, with threshold and unit. */
  readonly value?: number;
  /** The bound it crossed, in base units (absent for a fact). */
  readonly threshold?: number;
  /** The unit of value and threshold (absent for a fact). */
  readonly unit?: FindingUnit;
  /** What the figure covers: "over the last 30 s". */
  readonly window?: string;
  readonly severity: 'warning' | 'critical';
  /** What to do, briefly. */
  readonly action: string;
  /** The section of docs/runbooks.md with the longer story (an alert name, e.g. EtcdMemberSlowDisk). */
  readonly runbook?: string;
}

/** A figure for people: seconds in ms below 10 s, bytes in binary units, ratios in percent. */
export function formatFigure(value: number, unit: FindingUnit): string {
  switch (unit) {
    case 'seconds':
      if (value < 10) {
        const ms = value * 1000;
        return `${ms < 10 ? Number(ms.toFixed(1)) : Math.round(ms)} ms`;
      }
      // Latencies in seconds, horizons (time until a quota is full) in minutes, hours, days.
      return value < 120 ? `${Math.round(value)} s` : humanDuration(value);
    case 'bytes':
      return humanBytes(Math.round(value));
    case 'ratio':
      return `${Math.round(value * 1000) / 10} %`;
    case 'per_second':
      return `${Number(value.toPrecision(3))}/s`;
    case 'count':
      return String(Number.isInteger(value) ? value : Number(value.toPrecision(3)));
  }
}

/** "WAL fsync p99 180 ms over the last 30 s"; a fact as it is. */
export function findingFigure(f: Finding): string {
  const figure =
    f.value !== undefined && f.unit !== undefined
      ? `${f.measure} ${formatFigure(f.value, f.unit)}`
      : f.measure;
  return f.window !== undefined ? `${figure} ${f.window}` : figure;
}

/** "10 ms"; undefined for a fact, which has no threshold. */
export function findingThreshold(f: Finding): string | undefined {
  return f.threshold !== undefined && f.unit !== undefined ? formatFigure(f.threshold, f.unit) : undefined;
}

/** "member etcd-2: slow disk — WAL fsync p99 180 ms over the last 30 s (threshold 10 ms); <action>". */
export function formatFinding(f: Finding): string {
  const threshold = findingThreshold(f);
  const runbook = f.runbook !== undefined ? ` (runbook: docs/runbooks.md#${f.runbook.toLowerCase()})` : '';
  return `member ${f.member}: ${f.cause} — ${findingFigure(f)}${threshold !== undefined ? ` (threshold ${threshold})` : ''}; ${f.action}${runbook}`;
}

/** How far past its threshold a finding is; a fact counts as far past any figure. */
function excess(f: Finding): number {
  if (f.value === undefined || f.threshold === undefined) return Number.POSITIVE_INFINITY;
  return f.value / (f.threshold || 1);
}

const SEVERITY_RANK = { critical: 0, warning: 1 } as const;

/** Critical first, then by member, then by how far past the threshold. */
export function sortFindings<T extends Finding>(findings: readonly T[]): T[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
      a.member.localeCompare(b.member) ||
      Math.sign(excess(b) - excess(a)) ||
      0,
  );
}
