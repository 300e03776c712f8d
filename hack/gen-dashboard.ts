/**
 * Writes deploy/grafana/etcd-monitor.json from hack/dashboard.ts.
 * `--check` writes nothing and exits 1 when the checked-in file is out of
 * date; test/prometheus/dashboard.test.ts runs the same comparison.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { dashboardJson } from './dashboard.ts';

const file = resolve(import.meta.dirname, '..', 'deploy', 'grafana', 'etcd-monitor.json');
const want = dashboardJson();
const have = await readFile(file, 'utf8').catch(() => undefined);
if (have === want) process.exitCode = 0;
else if (process.argv.includes('--check')) {
  console.error(`gen-dashboard: ${file} is out of date; run \`npm run gen:dashboard\``);
  process.exitCode = 1;
} else {
  await writeFile(file, want);
  console.log(`gen-dashboard: wrote ${file}`);
}
