import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ENGINE_METRICS, type MetricDefinition } from '../../src/metrics/catalogue.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { documentedMetrics } from '../support/docs.ts';

function allDefinitions(): MetricDefinition[] {
  return [
    ...Object.values(ENGINE_METRICS),
    ...featureRegistry.names().flatMap((n) => featureRegistry.get(n).metrics),
  ];
}

test('every exported inspection family is documented with its type and labels, and nothing else is', async () => {
  const docs = await documentedMetrics();
  const documented = new Map(docs.filter((d) => d.name.startsWith('inspection_')).map((d) => [d.name, d]));
  const defined = allDefinitions();
  for (const def of defined) {
    const row = documented.get(def.name);
    assert.ok(row !== undefined, `${def.name} is exported but not in docs/metrics.md`);
    assert.equal(row.type, def.type, `${def.name}: type in docs`);
    assert.deepEqual(row.labels, ['clusterName', ...def.labels], `${def.name}: labels in docs`);
  }
  const names = new Set(defined.map((d) => d.name));
  for (const name of documented.keys()) assert.ok(names.has(name), `${name} is documented but not exported`);
});

test('the kstone catalogue keeps its names, types and labels', () => {
  const kstone: [string, string, string[]][] = [
    ['inspection_etcd_endpoint_healthy', 'gauge', ['endpoint']],
    ['inspection_etcd_endpoint_alarm', 'gauge', ['endpoint', 'alarmType']],
    ['inspection_failed_num', 'counter', ['inspectionType']],
  ];
  const defined = new Map(allDefinitions().map((d) => [d.name, d]));
  for (const [name, type, labels] of kstone) {
    assert.equal(defined.get(name)?.type, type, name);
    assert.deepEqual(defined.get(name)?.labels, labels, name);
  }
});
