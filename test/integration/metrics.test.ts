/**
 * A real scrape: promtool accepts it (apart from the documented kstone
 * naming exceptions), and every family in it is documented.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { featureRegistry } from '../../src/features/index.ts';
import { documentedMetrics, isDocumented } from '../support/docs.ts';
import { eventually } from '../../src/testing/wait.ts';
import { promtool } from '../support/prometheus.ts';
import { every, specFor } from '../support/specs.ts';
import { startInspectionServer } from '../support/inspection-server.ts';
import { clusterForTest } from '../support/clusters.ts';

/** The findings promtool may report, and only on the families kstone named that way. */
const LEGACY_FINDINGS: [RegExp, RegExp][] = [
  [/^inspection_/, /^label names should be written in 'snake_case' not 'camelCase'$/],
  [
    /^inspection_etcd_(node_(.*_)?diff_total|key_total)$/,
    /^non-counter metrics should not have "_total" suffix$/,
  ],
  [/^inspection_failed_num$/, /^counter metrics should have "_total" suffix$/],
  // prom-client's standard process metrics name these gauges so; not ours to rename.
  [
    /^etcd_monitor_nodejs_active_(handles|requests|resources)_total$/,
    /^non-counter metrics should not have "_total" suffix$/,
  ],
];

test('a real /metrics passes promtool except for the kstone names, and is fully documented', async (t) => {
  const cluster = await clusterForTest(t, { version: '3.6', members: 3, name: 'metrics' });
  const { daemon, address } = await startInspectionServer(t);
  const features = Object.fromEntries(featureRegistry.names().map((n) => [n, every(1)]));
  await daemon.engine.upsert(specFor('m', cluster, features));
  await eventually(
    () => (Object.values(daemon.store.get('m')?.features ?? {}).every((f) => f.runs >= 1) ? true : undefined),
    'a round of every feature',
  );

  const res = await fetch(`http://${address}/metrics`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const text = await res.text();

  const { output } = await promtool(['check', 'metrics'], text);
  const unexpected = output
    .split('\n')
    .filter((line) => line.trim() !== '')
    .filter((line) => {
      const [metric = '', ...rest] = line.split(' ');
      const message = rest.join(' ');
      return !LEGACY_FINDINGS.some(([name, finding]) => name.test(metric) && finding.test(message));
    });
  assert.deepEqual(unexpected, [], `promtool findings:\n${output}`);

  const families = [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!);
  assert.ok(families.includes('inspection_etcd_endpoint_healthy'));
  const docs = await documentedMetrics();
  const undocumented = families.filter((f) => !isDocumented(docs, f));
  assert.deepEqual(undocumented, [], 'families missing from docs/metrics.md');
});
