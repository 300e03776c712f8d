/**
 * `node --import bench/memory-probe.ts …`: on SIGUSR2 the process writes
 * where its memory is to $MEMORY_PROBE_FILE (JSON): process.memoryUsage(),
 * V8's heap spaces, the number of modules it loaded, and with
 * $MEMORY_PROBE_SNAPSHOT=1 the heap snapshot's biggest constructors. Used by
 * bench/startup.ts on the installed package; no effect without the variable.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8';
import { recordResolvedModules } from '../test/support/resolved-modules.ts';

const file = process.env['MEMORY_PROBE_FILE'];
if (file !== undefined) {
  const modules = recordResolvedModules();
  process.on('SIGUSR2', () => {
    const report = {
      memoryUsage: process.memoryUsage(),
      heapSpaces: Object.fromEntries(getHeapSpaceStatistics().map((s) => [s.space_name, s.space_used_size])),
      modules: modules.size,
      packages: [...new Set([...modules].map(packageOf).filter((p) => p !== ''))].sort(),
      topConstructors: process.env['MEMORY_PROBE_SNAPSHOT'] === '1' ? topConstructors() : [],
    };
    writeFileSync(file, JSON.stringify(report));
  });
}

function packageOf(url: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\/(?!.*node_modules\/)/.exec(url);
  return m?.[1] ?? '';
}

/** Self size by constructor name, from a heap snapshot (the format of V8's .heapsnapshot). */
function topConstructors(): [string, number][] {
  const path = writeHeapSnapshot(`${file}.heapsnapshot`);
  const snapshot = JSON.parse(readFileSync(path, 'utf8')) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  rmSync(path);
  const fields = snapshot.snapshot.meta.node_fields;
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const types = snapshot.snapshot.meta.node_types[0];
  const bySize = new Map<string, number>();
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + typeAt]!] ?? '?';
    const name =
      type === 'object' || type === 'native' ? snapshot.strings[snapshot.nodes[i + nameAt]!] : `(${type})`;
    const key = name ?? '?';
    bySize.set(key, (bySize.get(key) ?? 0) + snapshot.nodes[i + sizeAt]!);
  }
  return [...bySize].sort((a, b) => b[1] - a[1]).slice(0, 12);
}
