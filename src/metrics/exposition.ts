import type { MetricDefinition } from './catalogue.ts';
import type { MetricSample } from './sample.ts';

export const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

function escapeLabelValue(value: string): string {
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
  const parts: string[] = [];
  for (const key in labels) parts.push(`${key}="${escapeLabelValue(labels[key]!)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
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
    let list = this.lines.get(name);
    if (list === undefined) {
      list = [];
      this.lines.set(name, list);
    }
    list.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  }

  addSample(sample: MetricSample, clusterLabels: Readonly<Record<string, string>>): void {
    this.add(sample.name, { ...clusterLabels, ...sample.labels }, sample.value);
  }
}
