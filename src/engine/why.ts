/**
 * The "why" section: every figure out of bounds in a cluster's latest
 * results, whichever feature measured it, for `inspect`, the status page
 * and the API. Only successful rounds count: a failed round has no verdict.
 */
import { sortFindings, type Finding } from '../findings.ts';
import type { ClusterSnapshot } from './snapshot.ts';

export interface WhyEntry extends Finding {
  /** The feature that measured it. */
  readonly feature: string;
}

export function collectWhy(cluster: ClusterSnapshot): WhyEntry[] {
  const entries: WhyEntry[] = [];
  for (const f of Object.values(cluster.features)) {
    if (f.last?.ok !== true) continue;
    for (const finding of f.last.findings ?? []) entries.push({ ...finding, feature: f.name });
  }
  return sortFindings(entries);
}
