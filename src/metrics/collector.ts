import type { ClusterSnapshot, MemberSnapshot } from '../engine/snapshot.ts';
import type { SnapshotStore } from '../engine/snapshot.ts';
import { memberIdHex } from '../etcd/types.ts';
import {
  CLUSTER_NAME_LABEL,
  ENGINE_METRICS,
  metricPrefixProblem,
  type MetricDefinition,
} from './catalogue.ts';
import { extendPairs, familyHeader, labelPairs, renderFamilies, SampleBuffer } from './exposition.ts';

export interface CollectorOptions {
  readonly store: SnapshotStore;
  /** Families the registered features export. */
  readonly featureMetrics: readonly MetricDefinition[];
  /** Put in front of every family name (`kstone_` for kstone's names); checked with metricPrefixProblem. */
  readonly metricPrefix?: string;
}

/**
 * Renders every inspection series at scrape time from the latest snapshots.
 * Nothing is kept between scrapes: a removed cluster, member or alarm has no
 * series at the next scrape.
 */
export class InspectionCollector {
  readonly #opts: CollectorOptions;
  readonly #definitions: readonly MetricDefinition[];
  #families: { readonly name: string; readonly header: string }[] | undefined;

  constructor(opts: CollectorOptions) {
    const problem = metricPrefixProblem(opts.metricPrefix ?? '');
    if (problem !== undefined) throw new Error(problem);
    this.#opts = opts;
    const seen = new Map<string, MetricDefinition>();
    for (const def of [...Object.values(ENGINE_METRICS), ...opts.featureMetrics]) {
      const prior = seen.get(def.name);
      if (prior !== undefined && prior !== def) throw new Error(`metric ${def.name} is defined twice`);
      seen.set(def.name, def);
    }
    this.#definitions = [...seen.values()];
  }

  get definitions(): readonly MetricDefinition[] {
    return this.#definitions;
  }

  render(): string {
    const buffer = new SampleBuffer();
    for (const cluster of this.#opts.store.list()) this.#collectCluster(cluster, buffer);
    return renderFamilies(this.#definitions, buffer.lines, this.#opts.metricPrefix);
  }

  /**
   * One cluster's samples as text, per family name (each ending in a
   * newline, prefix applied). A snapshot is immutable, so callers may keep
   * this for as long as they hold the same snapshot object.
   */
  clusterText(cluster: ClusterSnapshot): ReadonlyMap<string, string> {
    const buffer = new SampleBuffer();
    this.#collectCluster(cluster, buffer);
    const prefix = this.#opts.metricPrefix ?? '';
    const text = new Map<string, string>();
    for (const [name, lines] of buffer.lines) {
      if (lines.length === 0) continue;
      text.set(name, `${(prefix === '' ? lines : lines.map((l) => prefix + l)).join('\n')}\n`);
    }
    return text;
  }

  /** Every family in exposition order, with its HELP and TYPE lines: what joins clusterText() pieces into one exposition. */
  get families(): readonly { readonly name: string; readonly header: string }[] {
    this.#families ??= this.#definitions.map((def) => ({
      name: def.name,
      header: `${familyHeader(def, this.#opts.metricPrefix)}\n`,
    }));
    return this.#families;
  }

  #collectCluster(cluster: ClusterSnapshot, out: SampleBuffer): void {
    // clusterName first (dashboards and tests read the series in this order), then
    // the cluster's own labels, which never replace it. Label sets shared by
    // many samples are formatted once (a render formats ~45 samples a cluster).
    const base: Record<string, string> = { [CLUSTER_NAME_LABEL]: cluster.name };
    for (const [label, value] of Object.entries(cluster.labels)) if (!(label in base)) base[label] = value;
    const basePairs = labelPairs(base);
    const m = ENGINE_METRICS;

    if (cluster.members !== undefined) {
      out.addPairs(m.discoverySuccess.name, basePairs, cluster.members.error === undefined ? 1 : 0);
      if (cluster.members.error === undefined)
        out.addPairs(m.members.name, basePairs, cluster.members.members.length);
      for (const member of cluster.members.members) collectMember(member, base, basePairs, out);
    }

    for (const feature of Object.values(cluster.features)) {
      const pairs = extendPairs(basePairs, base, 'inspectionType', feature.name);
      out.addPairs(m.failed.name, pairs, feature.failures);
      out.addPairs(m.runs.name, pairs, feature.runs);
      out.addPairs(m.interval.name, pairs, feature.intervalSeconds);
      out.addPairs(m.consecutiveFailures.name, pairs, feature.consecutiveFailures);
      const last = feature.last;
      if (last === undefined) continue;
      out.addPairs(m.success.name, pairs, last.ok ? 1 : 0);
      out.addPairs(m.duration.name, pairs, last.durationMs / 1000);
      out.addPairs(m.lastRun.name, pairs, last.startedAt.getTime() / 1000);
      for (const sample of last.metrics) out.addSample(sample, base, basePairs);
    }
  }
}

function collectMember(
  member: MemberSnapshot,
  base: Readonly<Record<string, string>>,
  basePairs: string,
  out: SampleBuffer,
): void {
  if (member.endpoint === '') return;
  const m = ENGINE_METRICS;
  const labels = { ...base, endpoint: member.endpoint };
  const pairs = extendPairs(basePairs, base, 'endpoint', member.endpoint);
  out.add(
    m.memberInfo.name,
    {
      ...labels,
      memberId: member.id === undefined ? '' : memberIdHex(member.id),
      memberName: member.name,
      version: member.version ?? '',
      role: member.role,
    },
    1,
  );
  const up = member.error === undefined && member.version !== undefined;
  out.addPairs(m.memberStatusUp.name, pairs, up ? 1 : 0);
  if (!up) return;
  out.addPairs(m.isLeader.name, pairs, member.role === 'leader' ? 1 : 0);
  const optional: [MetricDefinition, bigint | undefined][] = [
    [m.dbSize, member.dbSize],
    [m.dbSizeInUse, member.dbSizeInUse],
    [
      m.dbSizeQuota,
      member.dbSizeQuota !== undefined && member.dbSizeQuota > 0n ? member.dbSizeQuota : undefined,
    ],
    [m.raftTerm, member.raftTerm],
    [m.raftIndex, member.raftIndex],
    [m.raftAppliedIndex, member.raftAppliedIndex],
    [m.revision, member.revision],
  ];
  for (const [def, value] of optional) if (value !== undefined) out.addPairs(def.name, pairs, value);
}
