import type { InspectionOutcome, MemberHandle } from '../../engine/contract.ts';
import { failedOutcome } from '../../engine/contract.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { forEachMember } from '../members.ts';
import { spread } from './compare.ts';
import {
  CONSISTENCY_METRICS,
  labelOf,
  roundDetails,
  type ConsistencyOptions,
  type MemberRound,
} from './model.ts';
import { reachedVerdict } from './verdict.ts';

/**
 * v2 (storageBackend v2): every member counts the keys under the prefix with
 * a recursive GET; the counts are compared only when every member answered at
 * the same v2 index (the read is repeated a few times under writes). The
 * spread of the members' indexes is lag.
 */
export async function inspectV2(
  members: readonly MemberHandle[],
  opts: ConsistencyOptions,
  signal: AbortSignal,
): Promise<InspectionOutcome> {
  const prefix = opts.prefix === '' ? '/' : opts.prefix;
  const works: MemberRound[] = members.map((member) => ({
    member,
    label: labelOf(member),
    errors: [],
    hashState: 'not-checked',
  }));

  let first: Map<MemberRound, bigint> | undefined;
  let aligned: bigint | undefined;
  let attempts = 0;
  while (attempts < opts.v2CountAttempts) {
    attempts++;
    const reads = await forEachMember(members, (m) => m.v2().countKeys(prefix, { signal }));
    const indexes = new Map<MemberRound, bigint>();
    let failed = false;
    reads.forEach((read, i) => {
      const w = works[i]!;
      if (read.result === undefined) {
        w.errors.push(`count under ${prefix}: ${read.error ?? 'no answer'}`);
        failed = true;
        return;
      }
      indexes.set(w, read.result.index);
      w.keys = read.result.keys;
    });
    first ??= indexes;
    if (failed) break;
    const distinct = new Set([...indexes.values()].map(String));
    if (distinct.size === 1) {
      aligned = [...indexes.values()][0]!;
      break;
    }
  }
  for (const [w, index] of first ?? []) w.v2Index = index;
  if (aligned === undefined) {
    for (const w of works) delete w.keys;
    if (works.every((w) => w.errors.length === 0)) {
      works[0]!.errors.push(
        `the members answered at different v2 indexes in all ${attempts} attempt(s) (writes in flight): counts not compared`,
      );
    }
  }

  const indexDiff =
    first !== undefined && first.size === works.length ? spread([...first.values()]) : undefined;
  const counted = works.filter((w) => w.keys !== undefined);
  const keyDiff = aligned !== undefined ? spread(counted.map((w) => w.keys!)) : undefined;

  const findings: string[] = [];
  if (keyDiff !== undefined && keyDiff > 0n) {
    findings.push(
      `v2 key counts under ${prefix} differ at index ${aligned}: ${counted.map((w) => `${w.label}=${w.keys}`).join(', ')}`,
    );
  }
  const unknowns = works.filter((w) => w.errors.length > 0).map((w) => `${w.label}: ${w.errors.join('; ')}`);
  const ok = reachedVerdict(findings, unknowns);

  const metric = CONSISTENCY_METRICS;
  const metrics: MetricSample[] = [];
  if (indexDiff !== undefined) metrics.push({ name: metric.v2IndexDiff.name, labels: {}, value: indexDiff });
  if (keyDiff !== undefined && aligned !== undefined) {
    metrics.push({ name: metric.keyDiff.name, labels: {}, value: keyDiff });
    metrics.push({ name: metric.checkedRevision.name, labels: {}, value: aligned });
    for (const w of works)
      if (w.member.snapshot.endpoint !== '')
        metrics.push({ name: metric.memberKeys.name, labels: { endpoint: w.label }, value: w.keys! });
  }
  const details = roundDetails('v2', opts, works, {
    checkedRevision: aligned ?? null,
    hash: 'not-checked',
    hashNote: 'v2 store: no hash',
    keyDiff: keyDiff ?? null,
    v2IndexDiff: indexDiff ?? null,
  });
  const parts: string[] = [];
  if (keyDiff !== undefined) {
    parts.push(
      keyDiff === 0n
        ? `${works.length} member(s) hold ${counted[0]!.keys} v2 keys under ${prefix} at index ${aligned}`
        : `v2 keys under ${prefix} differ by ${keyDiff} at index ${aligned}`,
    );
  }
  if (indexDiff !== undefined) parts.push(`lag: v2 index ${indexDiff}`);
  if (ok) return { ok, summary: parts.join('; '), problems: findings, details, metrics };
  const error = unknowns.join('; ');
  return failedOutcome(error, { summary: `no verdict: ${error}`, details, metrics });
}
