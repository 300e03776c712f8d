/**
 * latency: how long a member takes to answer, as a client sees it. Every
 * round, on every member at once: a serializable read (served by the member
 * alone) and, when `writeProbe` is on, a linearizable write of one key of
 * the monitor's own (ClusterHandle.openProbeKey: a random key under
 * `keyPrefix`, attached to a lease; revoked when the feature stops, expired
 * by etcd if the process dies) followed by a linearizable read of it. The
 * round trips go into a sliding window per member and probe; the verdict
 * compares a quantile of the window with a threshold per probe.
 */
import { Type, type Static } from '@sinclair/typebox';
import { errorMessage } from '../../errors.ts';
import { EtcdError, memberIdHex } from '../../etcd/types.ts';
import { family, type MetricDefinition } from '../../metrics/catalogue.ts';
import type { MetricSample } from '../../metrics/sample.ts';
import {
  defineFeature,
  failedOutcome,
  OptionsError,
  probeKeyRequestProblem,
  type ClusterHandle,
  type FeatureSession,
  type Finding,
  type InspectionOutcome,
  type MemberHandle,
  type ProbeKey,
} from '../../engine/contract.ts';
import { forEachMember } from '../members.ts';
import { parseOptions } from '../options.ts';
import { formatFinding } from '../../findings.ts';
import { memberLabel } from '../units.ts';
import { assessProbe, humanSeconds, PROBES, PROBE_TEXT, quantileName, type ProbeName } from './assess.ts';
import { LatencyWindow, quantiles } from './window.ts';

/** The quantiles exported for every member and probe. */
export const EXPORTED_QUANTILES = [0.5, 0.9, 0.99] as const;

export const LATENCY_METRICS = {
  duration: family.summary(
    'inspection_etcd_probe_duration_seconds',
    'Round trip of the probe: quantiles (0.5, 0.9, 0.99) over the sliding window (option windowSeconds), _sum and _count since the feature started; a probe that hit its deadline counts as its elapsed time.',
    ['endpoint', 'probe', 'quantile'],
  ),
  last: family.gauge(
    'inspection_etcd_probe_last_duration_seconds',
    'Round trip of the last probe (the elapsed time when it hit its deadline).',
    ['endpoint', 'probe'],
  ),
  samples: family.gauge(
    'inspection_etcd_probe_samples',
    'Probes in the sliding window (the quantiles are over these).',
    ['endpoint', 'probe'],
  ),
  failures: family.counter(
    'inspection_etcd_probe_failures_total',
    'Probes that failed (deadline, refused, error) since the feature started on the cluster.',
    ['endpoint', 'probe'],
  ),
  slow: family.gauge(
    'inspection_etcd_probe_slow',
    "1 when the probe's judged quantile (option quantile, default 0.99) over the window is above its threshold, else 0.",
    ['endpoint', 'probe'],
  ),
} as const satisfies Record<string, MetricDefinition>;

export const DEFAULT_PROBE_KEY_PREFIX = '/etcd-monitor/latency-probe/';

const Seconds = (defaultSeconds: number, description: string) =>
  Type.Number({ exclusiveMinimum: 0, maximum: 600, default: defaultSeconds, description });

export const LatencyOptionsSchema = Type.Object(
  {
    writeProbe: Type.Boolean({
      default: false,
      description:
        'Also probe a linearizable write and read of one key of the monitor own, under a lease (needs write access to keyPrefix).',
    }),
    keyPrefix: Type.String({
      default: DEFAULT_PROBE_KEY_PREFIX,
      description: 'Where the probe key lives: `<keyPrefix><16 random hex digits>`.',
    }),
    leaseTtlSeconds: Type.Integer({
      minimum: 5,
      maximum: 3600,
      default: 60,
      description:
        'TTL of the probe key lease: how long the key outlives a monitor that died without revoking it.',
    }),
    windowSeconds: Type.Integer({ minimum: 10, maximum: 86_400, default: 300 }),
    maxSamples: Type.Integer({
      minimum: 10,
      maximum: 100_000,
      default: 1024,
      description: 'Samples kept per member and probe (bounds memory when the interval is short).',
    }),
    minSamples: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: 3,
      description: 'Probes in the window before a verdict.',
    }),
    quantile: Type.Number({ minimum: 0.5, maximum: 1, default: 0.99, description: 'The quantile judged.' }),
    probeTimeoutSeconds: Type.Number({ exclusiveMinimum: 0, maximum: 60, default: 5 }),
    serializableReadThresholdSeconds: Seconds(0.1, 'Threshold of the serializable read probe.'),
    writeThresholdSeconds: Seconds(0.5, 'Threshold of the linearizable write probe.'),
    linearizableReadThresholdSeconds: Seconds(0.3, 'Threshold of the linearizable read probe.'),
  },
  { additionalProperties: false },
);

export type LatencyOptions = Static<typeof LatencyOptionsSchema>;

export function parseLatencyOptions(raw: unknown): LatencyOptions {
  const options = parseOptions('latency', LatencyOptionsSchema, raw);
  const problem = probeKeyRequestProblem({ prefix: options.keyPrefix, ttlSeconds: options.leaseTtlSeconds });
  if (problem !== undefined) throw new OptionsError(`options of feature latency: keyPrefix: ${problem}`);
  if (options.minSamples > options.maxSamples)
    throw new OptionsError(
      `options of feature latency: minSamples (${options.minSamples}) must not exceed maxSamples (${options.maxSamples})`,
    );
  return options;
}

export interface ProbeDetails {
  readonly probe: ProbeName;
  readonly samples: number;
  readonly timedOut: number;
  readonly failures: number;
  /** Quantiles over the window by name ("p50", "p90", "p99"), seconds. */
  readonly quantiles: Readonly<Record<string, number>>;
  readonly judged: number | null;
  readonly thresholdSeconds: number;
  readonly slow: boolean;
  readonly lastSeconds: number | null;
  /** This round's failure, if it failed. */
  readonly error?: string;
}

export interface MemberLatencyDetails {
  readonly endpoint: string;
  readonly name: string;
  readonly id: string | undefined;
  readonly probes: readonly ProbeDetails[];
}

export interface LatencyDetails {
  readonly writeProbe: boolean;
  /** The probe key, when writeProbe is on ('' until it exists). */
  readonly probeKey: string;
  readonly windowSeconds: number;
  readonly quantile: number;
  readonly members: readonly MemberLatencyDetails[];
}

interface ProbeResult {
  readonly seconds?: number;
  readonly timedOut: boolean;
  readonly error?: string;
}

interface MemberRound {
  readonly results: Partial<Record<ProbeName, ProbeResult>>;
  readonly atMs: number;
}

/** Times one call; a deadline counts as a (censored) round trip, any other failure as none. */
async function timed(call: () => Promise<unknown>): Promise<ProbeResult> {
  const t0 = performance.now();
  try {
    await call();
    return { seconds: (performance.now() - t0) / 1000, timedOut: false };
  } catch (err) {
    const seconds = (performance.now() - t0) / 1000;
    if (err instanceof EtcdError && err.code === 'timeout')
      return { seconds, timedOut: true, error: errorMessage(err) };
    return { timedOut: false, error: errorMessage(err) };
  }
}

class LatencySession implements FeatureSession {
  readonly #cluster: ClusterHandle;
  readonly #options: LatencyOptions;
  readonly #thresholds: Readonly<Record<ProbeName, number>>;
  /** Windows by member (ID when known, else endpoint) and probe; members gone are dropped each round. */
  readonly #windows = new Map<string, Map<ProbeName, LatencyWindow>>();
  readonly #probeKey: ProbeKey | undefined;

  constructor(cluster: ClusterHandle, options: LatencyOptions) {
    this.#cluster = cluster;
    this.#options = options;
    this.#thresholds = {
      serializable_read: options.serializableReadThresholdSeconds,
      write: options.writeThresholdSeconds,
      linearizable_read: options.linearizableReadThresholdSeconds,
    };
    this.#probeKey = options.writeProbe
      ? cluster.openProbeKey({ prefix: options.keyPrefix, ttlSeconds: options.leaseTtlSeconds })
      : undefined;
  }

  async inspect(signal: AbortSignal): Promise<InspectionOutcome> {
    const timeoutMs = this.#options.probeTimeoutSeconds * 1000;
    let leaseError: string | undefined;
    if (this.#probeKey !== undefined) {
      try {
        await this.#probeKey.keepAlive(signal);
      } catch (err) {
        leaseError = `probe key lease: ${errorMessage(err)}`;
      }
    }
    const probeKey = this.#probeKey;
    const readKey = probeKey?.key ?? this.#options.keyPrefix;
    const rounds = await forEachMember(this.#cluster.members(), async (m): Promise<MemberRound> => {
      const results: Partial<Record<ProbeName, ProbeResult>> = {};
      const v3 = m.v3();
      // One key, not a range: an index lookup, the cheapest request a member serves.
      results.serializable_read = await timed(() =>
        v3.range({ key: readKey, serializable: true }, { signal, timeoutMs }),
      );
      if (probeKey !== undefined) {
        if (results.serializable_read.timedOut) {
          // The member did not answer in time: writing through it now would only time out again.
          const error = 'skipped: the member did not answer the serializable read in time';
          results.write = { timedOut: false, error };
          results.linearizable_read = { timedOut: false, error };
        } else if (leaseError !== undefined) {
          results.write = { timedOut: false, error: leaseError };
        } else {
          results.write = await timed(() =>
            probeKey.write(m, `${new Date().toISOString()} ${m.snapshot.name}`, signal),
          );
        }
        results.linearizable_read ??= await timed(() => v3.range({ key: readKey }, { signal, timeoutMs }));
      }
      return { results, atMs: Date.now() };
    });
    return this.#report(rounds);
  }

  #report(
    rounds: readonly { member: MemberHandle; result?: MemberRound; error?: string }[],
  ): InspectionOutcome {
    const o = this.#options;
    const probes: readonly ProbeName[] = this.#probeKey === undefined ? ['serializable_read'] : PROBES;
    const seen = new Set<string>();
    const members: MemberLatencyDetails[] = [];
    const metrics: MetricSample[] = [];
    const problems: string[] = [];
    const findings: Finding[] = [];
    const unanswered: string[] = [];
    let worst: { text: string; ratio: number } | undefined;
    let answered = 0;
    for (const r of rounds) {
      const snap = r.member.snapshot;
      if (r.member.endpoint === undefined) continue;
      const where = memberLabel(snap.endpoint, snap.name);
      const id = snap.id === undefined ? undefined : memberIdHex(snap.id);
      const memberKey = id ?? `endpoint:${snap.endpoint}`;
      seen.add(memberKey);
      let windows = this.#windows.get(memberKey);
      if (windows === undefined) {
        windows = new Map();
        this.#windows.set(memberKey, windows);
      }
      const atMs = r.result?.atMs ?? Date.now();
      const details: ProbeDetails[] = [];
      let memberAnswered = false;
      for (const probe of probes) {
        let window = windows.get(probe);
        if (window === undefined) {
          window = new LatencyWindow(o.windowSeconds, o.maxSamples);
          windows.set(probe, window);
        }
        const result = r.result?.results[probe] ?? { timedOut: false, error: r.error ?? 'not probed' };
        if (result.seconds !== undefined) {
          window.add({ atMs, seconds: result.seconds, timedOut: result.timedOut });
          if (!result.timedOut) memberAnswered = true;
        } else {
          window.fail();
          window.prune(atMs);
        }
        const figures = this.#figures(window);
        const verdict = assessProbe(
          {
            where,
            probe,
            value: figures.judged,
            samples: window.count,
            timedOut: window.timedOut,
            windowSeconds: o.windowSeconds,
          },
          { quantile: o.quantile, minSamples: o.minSamples, seconds: this.#thresholds },
        );
        if (verdict.finding !== undefined) {
          findings.push(verdict.finding);
          problems.push(formatFinding(verdict.finding));
        }
        const threshold = this.#thresholds[probe];
        if (
          figures.judged !== undefined &&
          (worst === undefined || figures.judged / threshold > worst.ratio)
        ) {
          worst = {
            ratio: figures.judged / threshold,
            text: `${PROBE_TEXT[probe]} ${quantileName(o.quantile)} ${humanSeconds(figures.judged)} on ${where} (threshold ${humanSeconds(threshold)})`,
          };
        }
        details.push({
          probe,
          samples: window.count,
          timedOut: window.timedOut,
          failures: window.failures,
          quantiles: figures.named,
          judged: figures.judged ?? null,
          thresholdSeconds: threshold,
          slow: verdict.slow,
          lastSeconds: window.last?.seconds ?? null,
          ...(result.error !== undefined ? { error: result.error } : {}),
        });
        const labels = { endpoint: snap.endpoint, probe };
        EXPORTED_QUANTILES.forEach((q, i) => {
          const value = figures.exported[i];
          if (value !== undefined)
            metrics.push({
              name: LATENCY_METRICS.duration.name,
              labels: { ...labels, quantile: String(q) },
              value,
            });
        });
        const family = LATENCY_METRICS.duration.name;
        metrics.push(
          { name: `${family}_sum`, family, labels, value: window.total.seconds },
          { name: `${family}_count`, family, labels, value: window.total.count },
        );
        if (window.last !== undefined)
          metrics.push({ name: LATENCY_METRICS.last.name, labels, value: window.last.seconds });
        metrics.push(
          { name: LATENCY_METRICS.samples.name, labels, value: window.count },
          { name: LATENCY_METRICS.failures.name, labels, value: window.failures },
          { name: LATENCY_METRICS.slow.name, labels, value: verdict.slow ? 1 : 0 },
        );
      }
      if (memberAnswered) answered++;
      else
        unanswered.push(
          `${where}: ${r.result?.results.serializable_read?.error ?? r.error ?? 'no answer in time'}`,
        );
      members.push({ endpoint: snap.endpoint, name: snap.name, id, probes: details });
    }
    for (const key of this.#windows.keys()) if (!seen.has(key)) this.#windows.delete(key);
    const details: LatencyDetails = {
      writeProbe: this.#probeKey !== undefined,
      probeKey: this.#probeKey?.key ?? '',
      windowSeconds: o.windowSeconds,
      quantile: o.quantile,
      members,
    };
    if (answered === 0) {
      const error = `no member answered a probe: ${unanswered.join('; ') || 'no members known'}`;
      return failedOutcome(error, { summary: error, details, metrics });
    }
    const summary = [
      worst === undefined ? 'collecting probes' : `slowest: ${worst.text}`,
      ...(unanswered.length > 0 ? [`no answer: ${unanswered.join('; ')}`] : []),
    ].join('; ');
    return { ok: true, summary, problems, findings, details, metrics };
  }

  #figures(window: LatencyWindow): {
    judged: number | undefined;
    exported: (number | undefined)[];
    named: Record<string, number>;
  } {
    const qs = [...EXPORTED_QUANTILES, this.#options.quantile];
    const values = quantiles(window.values(), qs);
    const named: Record<string, number> = {};
    EXPORTED_QUANTILES.forEach((q, i) => {
      const v = values[i];
      if (v !== undefined) named[quantileName(q)] = v;
    });
    return { judged: values[qs.length - 1], exported: values.slice(0, EXPORTED_QUANTILES.length), named };
  }

  async close(): Promise<void> {
    this.#windows.clear();
    await this.#probeKey?.close();
  }
}

export const latencyFeature = defineFeature({
  name: 'latency',
  description:
    'Per member: round trips of a serializable read and (opt-in) a linearizable write and read of a leased key of its own, quantiles over a sliding window against thresholds.',
  backends: ['v3'],
  defaultIntervalSeconds: 10,
  metrics: LATENCY_METRICS,
  optionsSchema: LatencyOptionsSchema,
  parseOptions: parseLatencyOptions,
  open: (cluster, options) => new LatencySession(cluster, options),
});
