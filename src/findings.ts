/**
 * A finding: one measured figure out of the bounds set for it, with where
 * (member), why (cause), how much (figure against threshold) and what to do.
 * Features report them beside their problem sentences; `inspect`, the status
 * page and the JSON API list them all in a "why" section, whatever feature
 * measured them.
 */
import { humanBytes } from './units.ts';

export type FindingUnit = 'seconds' | 'bytes' | 'ratio' | 'count' | 'per_second';

export interface Finding {
  /** Where, as people name it: "127.0.0.1:2379 (etcd-1)", or a pair of members "etcd-1 ↔ etcd-3". */
  readonly member: string;
  /** The cause in words: "slow disk", "slow peer link". */
  readonly cause: string;
  /** What was measured: "WAL fsync p99". */
  readonly measure: string;
  /** The figure, in base units. */
  readonly value: number;
  /** The bound it crossed, in base units. */
  readonly threshold: number;
  readonly unit: FindingUnit;
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
      return `${Math.round(value)} s`;
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

/** "member etcd-2: slow disk — WAL fsync p99 180 ms over the last 30 s (threshold 10 ms); <action>". */
export function formatFinding(f: Finding): string {
  const figure = `${f.measure} ${formatFigure(f.value, f.unit)}${f.window !== undefined ? ` ${f.window}` : ''}`;
  const runbook = f.runbook !== undefined ? ` (runbook: docs/runbooks.md#${f.runbook.toLowerCase()})` : '';
  return `member ${f.member}: ${f.cause} — ${figure} (threshold ${formatFigure(f.threshold, f.unit)}); ${f.action}${runbook}`;
}

const SEVERITY_RANK = { critical: 0, warning: 1 } as const;

/** Critical first, then by member, then by how far past the threshold. */
export function sortFindings<T extends Finding>(findings: readonly T[]): T[] {
  return [...findings].sort(
    (a, b) =>
      SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity] ||
      a.member.localeCompare(b.member) ||
      b.value / (b.threshold || 1) - a.value / (a.threshold || 1),
  );
}
