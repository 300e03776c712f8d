/**
 * The latency verdict of one probe on one member: its quantile over the
 * window against the threshold, and what the finding says (the member, the
 * figure, the threshold, what to do). Pure.
 */
import type { Finding } from '../../engine/contract.ts';
import { humanDuration } from '../units.ts';

export const PROBES = ['serializable_read', 'write', 'linearizable_read'] as const;
export type ProbeName = (typeof PROBES)[number];

export const PROBE_TEXT: Readonly<Record<ProbeName, string>> = {
  serializable_read: 'serializable read',
  write: 'linearizable write',
  linearizable_read: 'linearizable read',
};

/** What each probe's slowness points at, in words an SRE can act on. */
const ADVICE: Readonly<Record<ProbeName, string>> = {
  serializable_read:
    'the member answers a local read slowly by itself (no raft round involved): look at its CPU, memory and disk (WAL fsync and backend commit: the performance feature), a paused or throttled process, or a heavy request load on it',
  write:
    'a write through this member waits for the leader to commit it on a quorum: if every member writes slowly, look at the disks (WAL fsync) of the leader and followers and at the peer round trips; if only this member, at its link to the leader',
  linearizable_read:
    'a linearizable read waits for the leader to confirm its leadership (ReadIndex) and for this member to apply up to it: slow on one member only means it lags or its link to the leader is slow; slow on all, look at the leader',
};

export interface ProbeThresholds {
  readonly quantile: number;
  readonly minSamples: number;
  readonly seconds: Readonly<Record<ProbeName, number>>;
}

export interface ProbeFigures {
  /** "127.0.0.1:2379 (etcd-0)". */
  readonly where: string;
  readonly probe: ProbeName;
  /** The judged quantile over the window; undefined when the window is empty. */
  readonly value: number | undefined;
  readonly samples: number;
  readonly timedOut: number;
  readonly windowSeconds: number;
}

export interface ProbeVerdict {
  readonly slow: boolean;
  /** false: too few samples for a verdict yet. */
  readonly judged: boolean;
  readonly finding?: Finding;
}

/** "180 ms", "1.8 s". */
export function humanSeconds(seconds: number): string {
  if (seconds < 0.001) return `${(seconds * 1000).toFixed(2)} ms`;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
}

/** "p99", "p99.9", "max". */
export function quantileName(q: number): string {
  if (q >= 1) return 'max';
  return `p${Number((q * 100).toFixed(2))}`;
}

export function assessProbe(f: ProbeFigures, t: ProbeThresholds): ProbeVerdict {
  if (f.value === undefined || f.samples < t.minSamples) return { slow: false, judged: false };
  const threshold = t.seconds[f.probe];
  if (f.value <= threshold) return { slow: false, judged: true };
  const timeouts = f.timedOut > 0 ? `, ${f.timedOut} hit the probe deadline` : '';
  return {
    slow: true,
    judged: true,
    finding: {
      member: f.where,
      cause: `slow ${PROBE_TEXT[f.probe]}`,
      measure: `${PROBE_TEXT[f.probe]} round trip ${quantileName(t.quantile)}`,
      value: f.value,
      threshold,
      unit: 'seconds',
      window: `over the last ${humanDuration(f.windowSeconds)} (${f.samples} probes${timeouts})`,
      severity: 'warning',
      action: ADVICE[f.probe],
      runbook: 'EtcdProbeSlow',
    },
  };
}
