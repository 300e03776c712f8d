/**
 * The Prometheus scrape configurations of docs/operations.md are valid:
 * every ```yaml block that starts with `# prometheus.yml` passes
 * `promtool check config` (Debian's prometheus package). Debian builds
 * Prometheus without Kubernetes service discovery, so in the operator's
 * example the kubernetes_sd_configs block is swapped for a static target
 * before the check (every other field, the relabelling included, is checked)
 * and its own fields are checked here against Prometheus' documented ones.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';

const OPERATIONS = new URL('../../docs/operations.md', import.meta.url).pathname;

function promtool(args: readonly string[]): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) => {
    execFile('promtool', [...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      if (err !== null && typeof err.code !== 'number') reject(err);
      else resolve({ code: err === null ? 0 : Number(err.code), output: stdout + stderr });
    });
  });
}

/** The fields of a kubernetes_sd_config (role pod) the example may use, as Prometheus documents them. */
function checkKubernetesSd(yamlText: string): void {
  const configs = parseYaml(yamlText.replace(/^ {6}/gm, '')) as Record<string, unknown>[];
  assert.ok(Array.isArray(configs) && configs.length === 1);
  const config = configs[0]!;
  for (const key of Object.keys(config))
    assert.ok(['role', 'namespaces', 'selectors', 'api_server', 'kubeconfig_file'].includes(key), key);
  assert.equal(config['role'], 'pod');
  const namespaces = config['namespaces'] as { names: unknown[] };
  assert.deepEqual(Object.keys(namespaces), ['names']);
  assert.ok(namespaces.names.every((n) => typeof n === 'string'));
  for (const selector of config['selectors'] as Record<string, unknown>[]) {
    assert.equal(selector['role'], 'pod');
    assert.match(String(selector['label']), /^[a-z0-9./-]+=[a-z0-9.-]+$/);
  }
}

test('the scrape configurations in docs/operations.md pass promtool check config', async (t) => {
  const text = await readFile(OPERATIONS, 'utf8');
  const blocks = [...text.matchAll(/```yaml\n(# prometheus\.yml\n[\s\S]*?)```/g)].map((m) => m[1]!);
  // The standalone daemon and the operator without the Prometheus Operator.
  assert.equal(blocks.length, 2, 'two prometheus.yml examples');
  assert.ok(blocks.some((b) => b.includes('static_configs')));
  assert.ok(blocks.some((b) => b.includes('kubernetes_sd_configs') && b.includes('role: pod')));
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-scrape-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  for (const [i, block] of blocks.entries()) {
    const file = join(dir, `prometheus-${i}.yml`);
    const sd = /^( {4})kubernetes_sd_configs:\n((?:\1 .*\n)+)/m.exec(block);
    if (sd !== null) checkKubernetesSd(sd[2]!);
    await writeFile(
      file,
      sd === null
        ? block
        : block.replace(sd[0], `${sd[1]}static_configs:\n${sd[1]}  - targets: ['10.0.0.1:8080']\n`),
    );
    const r = await promtool(['check', 'config', file]);
    assert.equal(r.code, 0, `example ${i + 1}:\n${block}\n${r.output}`);
    assert.match(r.output, /SUCCESS/);
  }
});
