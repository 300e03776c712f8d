/**
 * The launcher's young generation for the long-running commands, on a real
 * daemon: it starts at 1 MiB and stays there while the process is quiet
 * (src/young-generation.ts grows it only when scavenges cost a busy
 * process; its own test shows V8 following the growth factor set at run
 * time). A semi-space flag of the user's turns the launcher's setting off:
 * V8 then grows the young generation of the same quiet daemon at once,
 * which is also what shows that the first check can fail.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, it } from 'node:test';
import { freePort, startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { DaemonProcess } from '../support/daemon-process.ts';
import { scrape } from '../support/scrape.ts';

const MiB = 1024 * 1024;
const RUNS = 'inspection_feature_runs_total{clusterName="one",inspectionType="alarm"}';
const NEW_SPACE = 'etcd_monitor_nodejs_heap_space_size_total_bytes{space="new"}';

let etcd: TestCluster;
let dir: string;
const daemons: DaemonProcess[] = [];

before(async () => {
  etcd = await startEtcdCluster({ version: '3.6', members: 1, name: 'younggen' });
  dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-younggen-'));
});

after(async () => {
  await Promise.all(daemons.map((d) => d.stop()));
  await etcd?.stop();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

/** A daemon on the one cluster, with NODE_OPTIONS as given; its address once it has run a few rounds. */
async function daemonWith(nodeOptions: string): Promise<string> {
  const config = join(dir, 'config.yaml');
  await writeFile(
    config,
    `clusters:\n  - name: one\n    endpoints: [${etcd.endpoints[0]}]\n    features: {alarm: {intervalSeconds: 1}}\n`,
  );
  const address = `127.0.0.1:${await freePort()}`;
  const { NODE_OPTIONS: _, ...env } = process.env;
  const daemon = new DaemonProcess(
    ['-c', config, '--listen', address],
    nodeOptions === '' ? env : { ...env, NODE_OPTIONS: nodeOptions },
  );
  daemons.push(daemon);
  await eventually(
    async () => ((await scrape(address)).get(RUNS) ?? 0) >= 3,
    'three alarm rounds',
    60_000,
    200,
  );
  return address;
}

it('run keeps a 1 MiB young generation while quiet; a semi-space flag of the user leaves it to V8', async () => {
  const launcher = await daemonWith('');
  // Both semi-spaces of 1 MiB; read after each of three more rounds (V8 may count a page more while it promotes).
  const sizes: number[] = [];
  for (let round = 4; round <= 6; round++)
    sizes.push(
      await eventually(
        async () => {
          const s = await scrape(launcher);
          return (s.get(RUNS) ?? 0) >= round ? (s.get(NEW_SPACE) ?? Number.NaN) : undefined;
        },
        `alarm round ${round}`,
        60_000,
        200,
      ),
    );
  sizes.sort((a, b) => a - b);
  assert.ok(sizes[1]! <= 2 * MiB, `new space of the launcher's daemon: ${sizes.map((b) => b / MiB)} MiB`);

  const v8Own = await daemonWith('--max-semi-space-size=16');
  await eventually(
    async () => ((await scrape(v8Own)).get(NEW_SPACE) ?? 0) > 2 * MiB,
    'V8 growing the young generation of a daemon whose user sized it',
    60_000,
    500,
  );
});
