import type { InspectionOutcome, MemberHandle } from '../../engine/contract.ts';
import { failedOutcome } from '../../engine/contract.ts';
import type { V2KeyCount } from '../../etcd/types.ts';
import type { Finding } from '../../findings.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import { forEachMember, type PerMember } from '../members.ts';
import { spread } from './compare.ts';
import {
  CONSISTENCY_METRICS,
  labelOf,
  roundDetails,
  type ConsistencyOptions,
  type MemberRound,
} from './model.ts';
import { KEY_COUNT_FIX, keyCountFindings } from './render.ts';
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

  // Every member counts; again while they answer at different indexes (writes in flight).
  let first: readonly PerMember<V2KeyCount>[] | undefined;
  let last: readonly PerMember<V2KeyCount>[] = [];
  let aligned: bigint | undefined;
  let attempts = 0;
  while (attempts < opts.v2CountAttempts) {
    attempts++;
    last = await forEachMember(members, (m) => m.v2().countKeys(prefix, { signal }));
    first ??= last;
    const indexes = last.map((read) => read.result?.index);
    if (indexes.includes(undefined)) break;
    if (new Set(indexes.map(String)).size === 1) {
      aligned = indexes[0];
      break;
    }
  }
  const allAnswered = last.every((read) => read.result !== undefined);
  const disagreement = `the members answered at different v2 indexes in all ${attempts} attempt(s) (writes in flight): counts not compared`;

  // One round per member, made once from the reads: the index of the first
  // attempt (lag), the count of the aligned one, the error of the last.
  const rounds: readonly MemberRound[] = members.map((member, i): MemberRound => {
    const firstIndex = first?.[i]?.result?.index;
    const read = last[i];
    const errors =
      read?.error !== undefined
        ? [`count under ${prefix}: ${read.error}`]
        : aligned === undefined && allAnswered && i === 0
          ? [disagreement]
          : [];
    return {
      member,
      label: labelOf(member),
      errors,
      hashState: 'not-checked',
      ...(firstIndex !== undefined && { v2Index: firstIndex }),
      ...(aligned !== undefined && read?.result !== undefined && { keys: read.result.keys }),
    };
  });

  const firstIndexes = (first ?? []).flatMap((read) =>
    read.result === undefined ? [] : [read.result.index],
  );
  const indexDiff =
    first !== undefined && firstIndexes.length === rounds.length ? spread(firstIndexes) : undefined;
  const counted = rounds.filter((w): w is MemberRound & { readonly keys: bigint } => w.keys !== undefined);
  const keyDiff = aligned !== undefined ? spread(counted.map((w) => w.keys)) : undefined;

  const problems: string[] = [];
  const findings: Finding[] = [];
  if (keyDiff !== undefined && keyDiff > 0n) {
    problems.push(
      `v2 key counts under ${prefix} differ at index ${aligned}: ${counted.map((w) => `${w.label}=${w.keys}`).join(', ')}: ${KEY_COUNT_FIX.replace('that revision', 'that index')}; see docs/runbooks.md (EtcdMemberKeyCountDivergence)`,
    );
    findings.push(...keyCountFindings(counted, `v2 index ${aligned} under ${prefix}`));
  }
  const unknowns = rounds.filter((w) => w.errors.length > 0).map((w) => `${w.label}: ${w.errors.join('; ')}`);
  const ok = reachedVerdict(problems, unknowns);

  const metric = CONSISTENCY_METRICS;
  const metrics: MetricSample[] = [];
  if (indexDiff !== undefined) metrics.push({ name: metric.v2IndexDiff.name, labels: {}, value: indexDiff });
  if (keyDiff !== undefined && aligned !== undefined) {
    metrics.push({ name: metric.keyDiff.name, labels: {}, value: keyDiff });
    metrics.push({ name: metric.checkedRevision.name, labels: {}, value: aligned });
    for (const w of counted)
      if (w.member.snapshot.endpoint !== '')
        metrics.push({ name: metric.memberKeys.name, labels: { endpoint: w.label }, value: w.keys });
  }
  const details = roundDetails('v2', opts, rounds, {
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
        ? `${rounds.length} member(s) hold ${counted[0]?.keys} v2 keys under ${prefix} at index ${aligned}`
        : `v2 keys under ${prefix} differ by ${keyDiff} at index ${aligned}`,
    );
  }
  if (indexDiff !== undefined) parts.push(`lag: v2 index ${indexDiff}`);
  if (ok) return { ok, summary: parts.join('; '), problems, findings, details, metrics };
  const error = unknowns.join('; ');
  return failedOutcome(error, { summary: `no verdict: ${error}`, details, metrics });
}
