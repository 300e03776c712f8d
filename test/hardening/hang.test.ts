/**
 * Members that accept TCP and never answer (a listener that accepts and
 * stays silent; a TLS etcd member frozen with SIGSTOP), and signals that
 * come early: every connection attempt is bounded by the dial timeout and
 * torn down on close whatever state its handshake is in, `inspect` always
 * exits, SIGTERM always ends the daemon, and signals during start-up are
 * handled (issue 13, points 2 and 3).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { InspectionServer } from '../../src/inspection-server.ts';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { createHttpMemberClient } from '../../src/etcd/http/client.ts';
import { createV2MemberClient } from '../../src/etcd/v2/client.ts';
import { createV3MemberClient } from '../../src/etcd/v3/client.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { silentLogger } from '../../src/log.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { Blackhole } from '../support/blackhole.ts';
import { cli } from '../support/cli.ts';
import { DaemonProcess } from '../support/daemon-process.ts';
import { every, featureSpecs } from '../support/specs.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

const FAST = { dialTimeoutMs: 300, requestTimeoutMs: 1000 };

describe('a member that accepts TCP and never answers', () => {
  let hole: Blackhole;
  before(async () => {
    hole = await Blackhole.start();
  });
  after(async () => {
    await hole?.stop();
  });

  for (const scheme of ['https', 'http'] as const) {
    test(`${scheme}: v3 attempts end at the dial timeout and are retried; close() leaves no socket`, async () => {
      const before = hole.accepted;
      const client = createV3MemberClient(parseEndpoint(`${scheme}://127.0.0.1:${hole.port}`), FAST);
      try {
        await assert.rejects(client.status(), /Status on 127\.0\.0\.1:\d+: /);
        // The attempt is torn down while the client is still open, and grpc tries again.
        await eventually(
          () => hole.accepted - before >= 2 && hole.closed >= 1,
          'an attempt closed by the dial timeout and a second attempt',
        );
        await assert.rejects(client.status(), /did not answer within 300 ms|cannot connect within 300 ms/);
      } finally {
        client.close();
      }
      await eventually(() => hole.open === 0, 'every connection closed after close()');
    });

    test(`${scheme}: HTTP and v2 clients leave no socket after close()`, async () => {
      const endpoint = parseEndpoint(`${scheme}://127.0.0.1:${hole.port}`);
      const http = createHttpMemberClient(endpoint, FAST);
      const v2 = createV2MemberClient(endpoint, FAST);
      await assert.rejects(http.health(), /127\.0\.0\.1:\d+/);
      await assert.rejects(v2.members(), /127\.0\.0\.1:\d+/);
      await Promise.all([http.close(), v2.close()]);
      await eventually(() => hole.open === 0, 'every connection closed after close()');
    });

    test(`${scheme}: a removed cluster leaves no socket; inspect exits`, async () => {
      const daemon = new InspectionServer({
        logger: silentLogger(),
        registry: featureRegistry,
        jitter: false,
      });
      try {
        await daemon.engine.apply([
          {
            id: 'silent',
            name: 'silent',
            endpoints: [parseEndpoint(`${scheme}://127.0.0.1:${hole.port}`)],
            storageBackend: 'v3',
            discoverMembers: true,
            client: FAST,
            features: featureSpecs({ healthy: every(1), alarm: every(1) }),
          },
        ]);
        await eventually(
          () => daemon.store.get('silent')?.features.healthy?.last !== undefined,
          'a healthy round ran',
        );
        await daemon.engine.remove('silent');
        await eventually(() => hole.open === 0, 'every connection closed after the cluster was removed');
      } finally {
        await daemon.close();
      }

      const r = await cli([
        'inspect',
        '--endpoints',
        `${scheme}://127.0.0.1:${hole.port}`,
        '--dial-timeout',
        '0.3',
        '--timeout',
        '2',
      ]);
      // null would mean the test runner had to kill it.
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stdout, /RESULT: PROBLEMS FOUND/);
      assert.doesNotMatch(r.stderr, /still open/);
    });
  }
});

describe('a TLS etcd member frozen by SIGSTOP', () => {
  let cluster: TestCluster;
  const dir = suiteTempDir('etcd-monitor-frozen-');
  before(async () => {
    cluster = await startEtcdCluster({ version: '3.6', members: 1, tls: true, name: 'frozen' });
  });
  after(async () => {
    const pid = cluster?.members[0]?.pid;
    if (pid !== undefined) process.kill(pid, 'SIGCONT');
    await cluster?.stop();
  });

  test('the daemon reports the member and still ends on SIGTERM; inspect exits', async () => {
    const tls = cluster.tls!;
    const file = join(dir, 'monitor.yaml');
    await writeFile(
      file,
      [
        'defaults: {dialTimeoutSeconds: 1, requestTimeoutSeconds: 1, features: {healthy: {intervalSeconds: 1}, alarm: {intervalSeconds: 1}}}',
        'clusters:',
        '  - name: frozen',
        `    endpoints: [${cluster.endpoints[0]}]`,
        `    tls: {caFile: ${tls.caFile}, certFile: ${tls.certFile}, keyFile: ${tls.keyFile}}`,
        '',
      ].join('\n'),
    );
    const daemon = new DaemonProcess(['--config', file, '--listen', '127.0.0.1:0']);
    try {
      await daemon.waitLog(/"msg":"etcd-monitor running"/, 'daemon running');
      const pid = cluster.members[0]!.pid!;
      process.kill(pid, 'SIGSTOP');
      try {
        const before = daemon.logs.length;
        await eventually(
          () => /"msg":"inspection failed"/.test(daemon.logs.slice(before)),
          'a failed round against the frozen member',
          30_000,
        );
        daemon.signal('SIGTERM');
        assert.equal(await daemon.exited, 0, daemon.logs.slice(-3000));
        assert.match(daemon.logs, /"msg":"stopped"/);
        // Ended because everything was closed, not by the last-resort exit.
        assert.doesNotMatch(daemon.logs, /still open|exiting anyway/);

        const r = await cli([
          'inspect',
          '--endpoints',
          cluster.endpoints[0]!,
          '--cacert',
          tls.caFile,
          '--cert',
          tls.certFile,
          '--key',
          tls.keyFile,
          '--dial-timeout',
          '0.5',
          '--timeout',
          '2',
        ]);
        assert.equal(r.code, 1, r.stderr);
        assert.doesNotMatch(r.stderr, /still open/);
      } finally {
        process.kill(pid, 'SIGCONT');
      }
    } finally {
      await daemon.stop();
    }
  });
});

describe('signals during start-up', () => {
  const dir = suiteTempDir('etcd-monitor-startup-');
  let hole: Blackhole;
  before(async () => {
    hole = await Blackhole.start();
  });
  after(async () => {
    await hole?.stop();
  });

  /**
   * The config file is a FIFO: start-up blocks reading it until the test
   * writes, so a signal lands inside start-up every time.
   */
  async function blockedDaemon(name: string): Promise<{ daemon: DaemonProcess; feed: () => Promise<void> }> {
    const fifo = join(dir, `${name}.yaml`);
    execFileSync('mkfifo', [fifo]);
    const yaml = `clusters:\n  - name: ${name}\n    endpoints: [http://127.0.0.1:${hole.port}]\n`;
    const daemon = new DaemonProcess(['--config', fifo, '--listen', '127.0.0.1:0']);
    const feed = async (): Promise<void> => {
      const handle = await open(fifo, 'w');
      await handle.writeFile(yaml);
      await handle.close();
    };
    await daemon.waitLog(/"msg":"starting"/, 'start-up began');
    return { daemon, feed };
  }

  test('SIGHUP during start-up is applied once start-up completes', async () => {
    const { daemon, feed } = await blockedDaemon('hup');
    try {
      daemon.signal('SIGHUP');
      await daemon.waitLog(/reload requested during start-up/, 'reload deferred');
      await feed();
      await daemon.waitLog(/"msg":"etcd-monitor running"/, 'daemon running');
      // The deferred reload reads the file again.
      await feed();
      await daemon.waitLog(/"msg":"config reloaded"/, 'deferred reload applied');
      daemon.signal('SIGTERM');
      assert.equal(await daemon.exited, 0, daemon.logs);
    } finally {
      await daemon.stop();
    }
  });

  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} during start-up ends the daemon cleanly`, async () => {
      const { daemon, feed } = await blockedDaemon(signal.toLowerCase());
      try {
        daemon.signal(signal);
        await feed();
        assert.equal(await daemon.exited, 0, daemon.logs);
        assert.match(daemon.logs, /terminated during start-up/);
        assert.doesNotMatch(daemon.logs, /etcd-monitor running/);
      } finally {
        await daemon.stop();
      }
    });
  }
});

describe('signals while the command is still loading', () => {
  const dir = suiteTempDir('etcd-monitor-loading-');
  let hole: Blackhole;
  let hooks: string;
  before(async () => {
    hole = await Blackhole.start();
    // A module loader hook holds the load of src/cli/main.ts until a gate file
    // exists: the process sits where bin/etcd-monitor.js imports the command.
    await writeFile(
      join(dir, 'gate-hooks.mjs'),
      `import { existsSync } from 'node:fs';
export async function load(url, context, next) {
  if (/\\/cli\\/main\\.(ts|js)$/.test(url))
    while (!existsSync(process.env.ETCD_MONITOR_TEST_GATE)) await new Promise((r) => setTimeout(r, 20));
  return next(url, context);
}
`,
    );
    hooks = join(dir, 'gate.mjs');
    await writeFile(
      hooks,
      `import { register } from 'node:module';\nregister('./gate-hooks.mjs', import.meta.url);\n`,
    );
  });
  after(async () => {
    await hole?.stop();
  });

  /** The daemon held while loading, once it catches SIGHUP (so its launcher's handlers are in). */
  async function loadingDaemon(
    name: string,
  ): Promise<{ daemon: DaemonProcess; release: () => Promise<void> }> {
    const config = join(dir, `${name}.yaml`);
    await writeFile(config, `clusters:\n  - name: ${name}\n    endpoints: [http://127.0.0.1:${hole.port}]\n`);
    const gate = join(dir, `${name}.gate`);
    const daemon = new DaemonProcess(['--config', config, '--listen', '127.0.0.1:0'], {
      ...process.env,
      NODE_OPTIONS: `${process.env['NODE_OPTIONS'] ?? ''} --import=${hooks}`,
      ETCD_MONITOR_TEST_GATE: gate,
    });
    // SigCgt: the signals the process catches (bit 0 is SIGHUP).
    const catchesHup = async (): Promise<boolean> => {
      const status = await readFile(`/proc/${daemon.child.pid}/status`, 'utf8');
      const mask = /SigCgt:\s*([0-9a-f]+)/.exec(status)?.[1];
      return mask !== undefined && (BigInt(`0x${mask}`) & 1n) === 1n;
    };
    await eventually(catchesHup, `the loading process catches SIGHUP (logs: ${daemon.logs})`, 60_000);
    assert.doesNotMatch(daemon.logs, /"msg":"starting"/, 'still loading');
    return { daemon, release: () => writeFile(gate, '') };
  }

  test('SIGHUP while loading: the daemon lives and starts', async () => {
    const { daemon, release } = await loadingDaemon('hup');
    try {
      daemon.signal('SIGHUP');
      await release();
      await daemon.waitLog(/"msg":"etcd-monitor running"/, 'daemon running', 60_000);
      daemon.signal('SIGTERM');
      assert.equal(await daemon.exited, 0, daemon.logs);
    } finally {
      await daemon.stop();
    }
  });

  test('SIGTERM while loading: exit 0, saying so', async () => {
    const { daemon, release } = await loadingDaemon('term');
    try {
      daemon.signal('SIGTERM');
      // The hook holds the main thread too: the handler runs once loading goes on, in whichever
      // of the launcher or the daemon holds the signal by then; either way a clean, explained exit.
      await release();
      assert.equal(await daemon.exited, 0, daemon.logs);
      assert.match(
        daemon.logs,
        /SIGTERM while loading, before anything started: exiting|terminated during start-up/,
      );
      assert.doesNotMatch(daemon.logs, /etcd-monitor running/);
    } finally {
      await daemon.stop();
    }
  });
});
