import type {
  ClusterSnapshot,
  FeatureSnapshot,
  MembersSnapshot,
  MemberSnapshot,
} from '../engine/snapshot.ts';
import type { SnapshotStore } from '../engine/snapshot.ts';
import { memberIdHex } from '../etcd/types.ts';
import {
  CLUSTER_NAME_LABEL,
  ENGINE_METRICS,
  metricPrefixProblem,
  type MetricDefinition,
} from './catalogue.ts';
import type { FamilyHeader, PartText } from './assembly.ts';
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
  #families: FamilyHeader[] | undefined;
  #indexes: Map<string, number> | undefined;
  /** The text of one part of a cluster (its membership, or one feature), by the part's object: see clusterParts(). */
  readonly #parts = new WeakMap<object, { readonly labels: string; readonly part: PartText }>();

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

  /**
   * The whole exposition of every cluster now, rendered the plain way (every
   * sample formatted, nothing cached): what the server's incremental
   * rendering (clusterParts() and ExpositionAssembly) must equal.
   */
  render(): string {
    const buffer = new SampleBuffer();
    for (const cluster of this.#opts.store.list()) {
      const { base, basePairs } = clusterLabels(cluster);
      if (cluster.members !== undefined) collectMembers(cluster.members, base, basePairs, buffer);
      for (const feature of Object.values(cluster.features)) collectFeature(feature, base, basePairs, buffer);
    }
    return renderFamilies(this.#definitions, buffer.lines, this.#opts.metricPrefix);
  }

  /**
   * One cluster's parts (its membership, each feature) as bytes per family
   * (prefix applied). Each part's object stays the same while the part's
   * snapshot and the cluster's labels do: a snapshot is replaced at every
   * round of any feature, but only that feature's object changes, so a
   * scrape re-renders what changed (healthy and alarm every 10 s) and
   * reuses the rest (membership, quota, topology, ... every minute or hour).
   */
  clusterParts(cluster: ClusterSnapshot): PartText[] {
    const { base, basePairs } = clusterLabels(cluster);
    const parts: PartText[] = [];
    const members = cluster.members;
    if (members !== undefined)
      parts.push(this.#part(members, basePairs, (out) => collectMembers(members, base, basePairs, out)));
    for (const feature of Object.values(cluster.features))
      parts.push(this.#part(feature, basePairs, (out) => collectFeature(feature, base, basePairs, out)));
    return parts;
  }

  /** A part's bytes, cached while its object and the cluster's labels stay. */
  #part(part: object, labels: string, collect: (out: SampleBuffer) => void): PartText {
    const cached = this.#parts.get(part);
    if (cached !== undefined && cached.labels === labels) return cached.part;
    const buffer = new SampleBuffer();
    collect(buffer);
    const prefix = this.#opts.metricPrefix ?? '';
    const index = this.#familyIndex();
    const families: number[] = [];
    const texts: string[] = [];
    for (const [name, lines] of buffer.lines) {
      const family = index.get(name);
      // A family nobody declared has no header to go under: left out, as from the whole exposition.
      if (family === undefined || lines.length === 0) continue;
      families.push(family);
      texts.push(`${(prefix === '' ? lines : lines.map((l) => prefix + l)).join('\n')}\n`);
    }
    // One Buffer (from Node's shared pool when small), a view of it per family.
    const whole = Buffer.from(texts.join(''));
    const bytes: Buffer[] = [];
    let end = 0;
    for (const text of texts) {
      const start = end;
      end += Buffer.byteLength(text);
      bytes.push(whole.subarray(start, end));
    }
    const rendered = { families, bytes };
    this.#parts.set(part, { labels, part: rendered });
    return rendered;
  }

  #familyIndex(): ReadonlyMap<string, number> {
    this.#indexes ??= new Map(this.families.map((f, i) => [f.name, i]));
    return this.#indexes;
  }

  /** Every family in exposition order, with its HELP and TYPE lines. */
  get families(): readonly FamilyHeader[] {
    this.#families ??= this.#definitions.map((def) => ({
      name: def.name,
      header: `${familyHeader(def, this.#opts.metricPrefix)}\n`,
    }));
    return this.#families;
  }
}

/**
 * clusterName first (dashboards and tests read the series in this order),
 * then the cluster's own labels, which never replace it. Label sets shared
 * by many samples are formatted once (a render formats ~45 samples a cluster).
 */
function clusterLabels(cluster: ClusterSnapshot): { base: Record<string, string>; basePairs: string } {
  const base: Record<string, string> = { [CLUSTER_NAME_LABEL]: cluster.name };
  for (const [label, value] of Object.entries(cluster.labels)) if (!(label in base)) base[label] = value;
  return { base, basePairs: labelPairs(base) };
}

function collectMembers(
  members: MembersSnapshot,
  base: Readonly<Record<string, string>>,
  basePairs: string,
  out: SampleBuffer,
): void {
  const m = ENGINE_METRICS;
  out.addPairs(m.discoverySuccess.name, basePairs, members.error === undefined ? 1 : 0);
  if (members.error === undefined) out.addPairs(m.members.name, basePairs, members.members.length);
  for (const member of members.members) collectMember(member, base, basePairs, out);
}

function collectFeature(
  feature: FeatureSnapshot,
  base: Readonly<Record<string, string>>,
  basePairs: string,
  out: SampleBuffer,
): void {
  const m = ENGINE_METRICS;
  const pairs = extendPairs(basePairs, base, 'inspectionType', feature.name);
  out.addPairs(m.failed.name, pairs, feature.failures);
  out.addPairs(m.runs.name, pairs, feature.runs);
  out.addPairs(m.interval.name, pairs, feature.intervalSeconds);
  out.addPairs(m.consecutiveFailures.name, pairs, feature.consecutiveFailures);
  const last = feature.last;
  if (last === undefined) return;
  out.addPairs(m.success.name, pairs, last.ok ? 1 : 0);
  out.addPairs(m.duration.name, pairs, last.durationMs / 1000);
  out.addPairs(m.lastRun.name, pairs, last.startedAt.getTime() / 1000);
  for (const sample of last.metrics) out.addSample(sample, base, basePairs);
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
