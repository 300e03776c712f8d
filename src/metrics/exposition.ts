import type { MetricDefinition } from './catalogue.ts';
import type { MetricSample } from './sample.ts';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const NEEDS_ESCAPE = /[\\\n"]/;

function escapeLabelValue(value: string): string {
  // Nearly every value (names, endpoints, types) has nothing to escape: one scan, no copies.
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function formatValue(value: number | bigint): string {
  if (typeof value === 'bigint') return value.toString();
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return String(value);
}

export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const pairs = labelPairs(labels);
  return pairs === '' ? '' : `{${pairs}}`;
}

/**
 * The label set's pairs without the braces (`a="x",b="y"`), in the
 * object's key order: what samples sharing labels (a cluster's, a member's)
 * format once, then extend with extendPairs().
 */
export function labelPairs(labels: Readonly<Record<string, string>>): string {
  let out = '';
  for (const key in labels) out += `${out === '' ? '' : ','}${key}="${escapeLabelValue(labels[key]!)}"`;
  return out;
}

/** `pairs` with one more label, as labelPairs({...labels, [key]: value}) would format it. */
export function extendPairs(
  pairs: string,
  labels: Readonly<Record<string, string>>,
  key: string,
  value: string,
): string {
  // A key already in the set keeps its place with the new value: the general path.
  if (key in labels) return labelPairs({ ...labels, [key]: value });
  return `${pairs}${pairs === '' ? '' : ','}${key}="${escapeLabelValue(value)}"`;
}

/** A family's HELP and TYPE lines (no trailing newline). */
export function familyHeader(def: MetricDefinition, prefix = ''): string {
  const name = prefix + def.name;
  return `# HELP ${name} ${escapeHelp(def.help)}\n# TYPE ${name} ${def.type}`;
}

/**
 * Renders the Prometheus text format (0.0.4): families in the order given,
 * each with HELP and TYPE, only when it has samples, every name preceded by
 * `prefix` (see METRIC_PREFIX_PATTERN). Samples of one family
 * must not repeat a label set; callers own that (series are keyed by
 * cluster identity and member endpoint).
 */
export function renderFamilies(
  definitions: Iterable<MetricDefinition>,
  samples: ReadonlyMap<string, readonly string[]>,
  prefix = '',
): string {
  const out: string[] = [];
  for (const def of definitions) {
    const lines = samples.get(def.name);
    if (lines === undefined || lines.length === 0) continue;
    out.push(familyHeader(def, prefix));
    // Each line starts with the family's name: the prefix goes in front.
    for (const line of lines) out.push(prefix + line);
  }
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}

/** Collects sample lines per family, formatting each once. */
export class SampleBuffer {
  readonly lines = new Map<string, string[]>();

  add(name: string, labels: Readonly<Record<string, string>>, value: number | bigint): void {
    this.addPairs(name, labelPairs(labels), value);
  }

  /** A sample whose labels are already formatted (labelPairs/extendPairs), kept with its family's lines. */
  addPairs(name: string, pairs: string, value: number | bigint, family = name): void {
    let list = this.lines.get(family);
    if (list === undefined) {
      list = [];
      this.lines.set(family, list);
    }
    list.push(pairs === '' ? `${name} ${formatValue(value)}` : `${name}{${pairs}} ${formatValue(value)}`);
  }

  /**
   * A feature's sample under the cluster's labels (the sample's own win on a
   * clash); `clusterPairs` is labelPairs(clusterLabels), formatted once per cluster.
   */
  addSample(
    sample: MetricSample,
    clusterLabels: Readonly<Record<string, string>>,
    clusterPairs = labelPairs(clusterLabels),
  ): void {
    let pairs = clusterPairs;
    for (const key in sample.labels) {
      if (key in clusterLabels) {
        pairs = labelPairs({ ...clusterLabels, ...sample.labels });
        break;
      }
      pairs += `${pairs === '' ? '' : ','}${key}="${escapeLabelValue(sample.labels[key]!)}"`;
    }
    this.addPairs(sample.name, pairs, sample.value, sample.family);
  }
}
