/**
 * The test bed against real etcd processes: 3.6 (built by hack/build-etcd.sh),
 * 3.5 (built with `hack/setup.sh --test`) and Debian's 3.4.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { httpGet, type HttpTls } from '../../src/testbed/http.ts';
import {
  CLIENT_CERT_CN,
  etcdBinaries,
  freePort,
  generateCertificates,
  startEtcdCluster,
  trackedProcessCount,
  type TestCluster,
} from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';

/** Gone, or a zombie waiting for a reaper that PID 1 may never be. */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
    throw err;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function waitGone(pids: readonly number[], timeoutMs = 10_000): Promise<void> {
  await eventually(() => pids.every(processGone), `processes ${pids.join(', ')} to exit`, timeoutMs);
}

async function health(url: string, tls?: HttpTls): Promise<unknown> {
  const res = await httpGet(`${url}/health`, { tls, timeoutMs: 5_000 });
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body);
}

function pidsOf(cluster: TestCluster): number[] {
  return cluster.members.map((m) => m.pid).filter((p): p is number => p !== undefined);
}

/** Stops the cluster and checks that nothing of it is left. */
async function stopAndCheck(cluster: TestCluster): Promise<void> {
  const pids = pidsOf(cluster);
  await cluster.stop();
  await cluster.stop(); // idempotent
  assert.equal(existsSync(cluster.dir), false, 'cluster dir removed');
  await waitGone(pids, 1_000);
  assert.ok(cluster.members.every((m) => !m.running && m.pid === undefined));
}

// The clusters are independent; starting them side by side keeps the file
// well under a minute even on two cores.
describe('etcd test bed', { concurrency: true }, () => {
  it('runs a 3-member 3.6 cluster; stopped and killed members come back', async () => {
    const cluster = await startEtcdCluster({ name: 'plain' });
    try {
      assert.equal(cluster.version, '3.6');
      assert.match(cluster.binaryVersion, /^3\.6\.\d+$/);
      assert.equal(cluster.tls, undefined);
      assert.equal(cluster.auth, undefined);
      assert.equal(new Set(cluster.endpoints).size, 3);
      for (const [i, endpoint] of cluster.endpoints.entries()) {
        assert.match(endpoint, /^http:\/\/127\.0\.0\.1:\d+$/);
        assert.deepEqual(await health(endpoint), { health: 'true', reason: '' });
        const out = await cluster.etcdctl(['endpoint', 'status', '-w', 'json'], { endpoints: [endpoint] });
        const status: unknown = JSON.parse(out);
        assert.ok(Array.isArray(status) && status.length === 1, `one status for ${endpoint}: ${out}`);
        assert.equal(cluster.members[i]?.running, true);
        assert.ok(existsSync(cluster.members[i]?.logFile ?? ''), 'member log file');
      }
      await cluster.etcdctl(['put', 'k1', 'v1']);

      const stopped = cluster.members[1];
      assert.ok(stopped);
      const oldPid = stopped.pid;
      assert.ok(oldPid !== undefined);
      await cluster.stopMember(1);
      assert.equal(stopped.running, false);
      assert.equal(stopped.pid, undefined);
      await waitGone([oldPid]);
      // Two of three keep quorum.
      const alive = [cluster.endpoints[0] ?? '', cluster.endpoints[2] ?? ''];
      await cluster.etcdctl(['put', 'k2', 'v2'], { endpoints: alive });
      await cluster.waitHealthy(10_000); // only running members count

      await cluster.startMember(1);
      assert.equal(stopped.running, true);
      assert.notEqual(stopped.pid, oldPid);
      await cluster.waitHealthy(10_000);
      // Same data dir: the restarted member has the old key and the one written while it was down.
      assert.equal(
        (
          await cluster.etcdctl(['get', 'k2', '--print-value-only'], { endpoints: [stopped.clientURL] })
        ).trim(),
        'v2',
      );
      assert.equal(
        (
          await cluster.etcdctl(['get', 'k1', '--print-value-only'], { endpoints: [stopped.clientURL] })
        ).trim(),
        'v1',
      );

      // Paused means every thread stopped when pauseMember resolves, not only the signal sent.
      const pausedPid = cluster.members[0]!.pid!;
      await cluster.pauseMember(0);
      const threads = readdirSync(`/proc/${pausedPid}/task`);
      assert.ok(threads.length > 1, 'etcd runs several threads');
      for (const tid of threads) {
        const stat = readFileSync(`/proc/${pausedPid}/task/${tid}/stat`, 'latin1');
        assert.equal(stat.slice(stat.lastIndexOf(')') + 2)[0], 'T', `thread ${tid} of the paused member`);
      }
      cluster.resumeMember(0);
      await cluster.waitHealthy(10_000);

      // A paused member is killed as it is (never continued): it still exits.
      await cluster.pauseMember(2);
      await cluster.killMember(2);
      assert.equal(cluster.members[2]?.running, false);
      await cluster.startMember(2);
      await cluster.waitHealthy(10_000);
    } finally {
      await stopAndCheck(cluster);
    }
  });

  it('TLS cluster serves only clients with a certificate from its CA', async () => {
    await using cluster = await startEtcdCluster({ tls: true, name: 'tls' });
    const tls = cluster.tls;
    assert.ok(tls);
    assert.ok(cluster.endpoints.every((e) => e.startsWith('https://127.0.0.1:')));
    assert.ok(cluster.members.every((m) => m.peerURL.startsWith('https://')));
    const endpoint = cluster.endpoints[0] ?? '';

    assert.deepEqual(await health(endpoint, { ca: tls.ca, cert: tls.cert, key: tls.key }), {
      health: 'true',
      reason: '',
    });
    // No client certificate: the handshake is refused.
    await assert.rejects(httpGet(`${endpoint}/health`, { tls: { ca: tls.ca }, timeoutMs: 5_000 }));
    // A client certificate from another CA: refused too.
    await assert.rejects(
      httpGet(`${endpoint}/health`, {
        tls: { ca: tls.ca, cert: tls.otherCert, key: tls.otherKey },
        timeoutMs: 5_000,
      }),
    );
    // Trusting the wrong CA: the server certificate does not verify.
    await assert.rejects(
      httpGet(`${endpoint}/health`, {
        tls: { ca: tls.otherCa, cert: tls.cert, key: tls.key },
        timeoutMs: 5_000,
      }),
      /self[- ]signed|unable to verify|unable to get local issuer/i,
    );

    assert.match(await cluster.etcdctl(['endpoint', 'health']), /is healthy/);
    await cluster.etcdctl(['put', 'tls-key', 'ok']);
    // etcdctl retries a refused handshake until its command timeout; keep it
    // short (a flag: etcdctl 3.6 ignores ETCDCTL_COMMAND_TIMEOUT).
    const get = ['get', 'tls-key', '--command-timeout=2s'];
    await assert.rejects(
      cluster.etcdctl(get, { clientCert: false }),
      /certificate required|deadline exceeded/,
    );
    await assert.rejects(
      cluster.etcdctl(get, { env: { ETCDCTL_CERT: tls.otherCertFile, ETCDCTL_KEY: tls.otherKeyFile } }),
      /unknown certificate authority|deadline exceeded/,
    );
  });

  it('auth cluster rejects etcdctl without credentials and accepts it with them', async () => {
    // With TLS too: the client certificate's CN is not a user, so it grants nothing.
    await using cluster = await startEtcdCluster({
      auth: true,
      tls: true,
      members: 1,
      name: 'auth',
      authTokenTtlSeconds: 30,
    });
    const auth = cluster.auth;
    assert.ok(auth);
    assert.equal(auth.username, 'root');
    assert.ok(auth.password.length >= 16);
    assert.notEqual(CLIENT_CERT_CN, 'root');

    await cluster.etcdctl(['put', 'secret-key', 'v']);
    assert.equal((await cluster.etcdctl(['get', 'secret-key', '--print-value-only'])).trim(), 'v');
    assert.match(await cluster.etcdctl(['auth', 'status']), /Authentication Status: true/);

    await assert.rejects(cluster.etcdctl(['get', 'secret-key'], { auth: false }), (err: Error) => {
      assert.match(err.message, /user name is empty|permission denied|authentication/i);
      assert.ok(!err.message.includes(auth.password), 'no password in the message');
      return true;
    });
    const wrong = 'not-the-password-0123';
    await assert.rejects(cluster.etcdctl(['get', 'secret-key', `--user=root:${wrong}`]), (err: Error) => {
      assert.match(err.message, /authentication failed/i);
      assert.ok(
        !err.message.includes(wrong) && !err.message.includes(auth.password),
        'no password in the message',
      );
      assert.match(err.message, /--user=root:\*\*\*/);
      return true;
    });
  });

  it('3.4 cluster with enableV2 answers GET /v2/keys', async () => {
    await using cluster = await startEtcdCluster({ version: '3.4', enableV2: true, name: 'v34' });
    assert.match(cluster.binaryVersion, /^3\.4\.\d+$/);
    for (const endpoint of cluster.endpoints) {
      const res = await httpGet(`${endpoint}/v2/keys`, { timeoutMs: 5_000 });
      assert.equal(res.status, 200, res.body);
      const body = JSON.parse(res.body) as { action?: string; node?: { dir?: boolean } };
      assert.equal(body.action, 'get');
      assert.equal(body.node?.dir, true);
    }
    await cluster.etcdctl(['put', 'k', 'v']); // etcdctl of the same version
  });

  it('3.5 cluster with enableV2 answers GET /v2/keys', async () => {
    await using cluster = await startEtcdCluster({ version: '3.5', enableV2: true, members: 1, name: 'v35' });
    assert.match(cluster.binaryVersion, /^3\.5\.\d+$/);
    const res = await httpGet(`${cluster.endpoints[0] ?? ''}/v2/keys`, { timeoutMs: 5_000 });
    assert.equal(res.status, 200, res.body);
  });

  it('refuses options it cannot honour, without starting anything', async () => {
    await assert.rejects(startEtcdCluster({ version: '3.6', enableV2: true }), /3\.6 has no v2 API/);
    await assert.rejects(startEtcdCluster({ members: 0 }), /members must be a positive integer/);
    await assert.rejects(
      startEtcdCluster({ heartbeatIntervalMs: 300, electionTimeoutMs: 1000 }),
      /at least 5 x/,
    );
  });

  it('retries a start that lost a port race, then gives up with the log', async () => {
    // A port someone else holds, on every attempt: the metrics listener fails to bind.
    const { createServer } = await import('node:net');
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const address = blocker.address();
    assert.ok(address !== null && typeof address === 'object');
    try {
      await assert.rejects(
        startEtcdCluster({
          members: 1,
          name: 'portrace',
          extraArgs: [`--listen-metrics-urls=http://127.0.0.1:${address.port}`],
        }),
        /could not bind its ports in 3 attempts[\s\S]*address already in use/,
      );
    } finally {
      blocker.close();
    }
  });

  it('etcdBinaries finds each version and names the setup command when one is missing', async () => {
    assert.match(etcdBinaries('3.4').version, /^3\.4\./);
    assert.match(etcdBinaries('3.6').version, /^3\.6\./);
    const empty = await mkdtemp(join(tmpdir(), 'etcd-monitor-empty-cache-'));
    try {
      assert.throws(() => etcdBinaries('3.6', { ETCD_MONITOR_CACHE: empty }), /bash hack\/setup\.sh --test/);
      // The override must hold the requested minor version.
      assert.equal(etcdBinaries('3.4', { ETCD_MONITOR_ETCD_BIN_DIR: '/usr/bin' }).etcd, '/usr/bin/etcd');
      assert.throws(() => etcdBinaries('3.5', { ETCD_MONITOR_ETCD_BIN_DIR: '/usr/bin' }), /not 3\.5\.x/);
      assert.throws(
        () => etcdBinaries('3.6', { ETCD_MONITOR_ETCD_BIN_DIR: empty }),
        /ETCD_MONITOR_ETCD_BIN_DIR.*hack\/setup\.sh/,
      );
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });

  it('generateCertificates: SANs as asked, chains to the right CA', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-certs-'));
    try {
      const tls = await generateCertificates(join(dir, 'certs'), {
        hosts: ['127.0.0.1', 'localhost', 'etcd.example'],
      });
      const ca = new X509Certificate(tls.ca);
      const otherCa = new X509Certificate(tls.otherCa);
      const server = new X509Certificate(readFileSync(tls.serverCertFile));
      const client = new X509Certificate(tls.cert);
      assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
      assert.equal(server.checkHost('etcd.example'), 'etcd.example');
      assert.ok(server.verify(ca.publicKey) && client.verify(ca.publicKey));
      assert.ok(!server.verify(otherCa.publicKey));
      assert.ok(new X509Certificate(tls.otherCert).verify(otherCa.publicKey));
      assert.ok(client.subject.includes(`CN=${CLIENT_CERT_CN}`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('freePort returns distinct bindable ports', async () => {
    const ports = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    assert.equal(new Set(ports).size, ports.length);
    assert.ok(ports.every((p) => p > 0 && p < 65536));
  });

  describe('no etcd outlives its Node process', () => {
    const fixture = join(import.meta.dirname, 'fixtures', 'orphan.ts');

    /** Runs the fixture, returns what it reported and a promise of its exit. */
    async function runOrphan(mode: 'exit' | 'wait') {
      const child = spawn(process.execPath, [fixture, mode], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.once('exit', (code, signal) => resolve({ code, signal })),
      );
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      try {
        await eventually(
          () => {
            // The report first: the fixture may print it and exit before the first poll.
            if (stdout.includes('\n')) return true;
            if (child.exitCode !== null) throw new Error(`fixture exited: ${stderr}`);
            return false;
          },
          "the fixture's report",
          30_000,
        );
      } catch (err) {
        child.kill('SIGKILL');
        throw err;
      }
      const report = JSON.parse(stdout.slice(0, stdout.indexOf('\n'))) as { pids: number[]; dir: string };
      assert.equal(report.pids.length, 1);
      return { child, exited, report };
    }

    it('process.exit() without stop()', async () => {
      const { exited, report } = await runOrphan('exit');
      assert.deepEqual(await exited, { code: 0, signal: null });
      await waitGone(report.pids);
      assert.equal(existsSync(report.dir), false);
    });

    it('SIGTERM: cleans up and still dies by the signal', async () => {
      const { child, exited, report } = await runOrphan('wait');
      child.kill('SIGTERM');
      assert.deepEqual(await exited, { code: null, signal: 'SIGTERM' });
      await waitGone(report.pids);
      assert.equal(existsSync(report.dir), false);
    });

    it('SIGKILL: the kernel kills etcd with its parent (setpriv --pdeathsig)', {
      skip: !existsSync('/usr/bin/setpriv') && 'no setpriv',
    }, async () => {
      const { child, exited, report } = await runOrphan('wait');
      try {
        child.kill('SIGKILL');
        await exited;
        await waitGone(report.pids);
      } finally {
        // Nothing in the dead process could remove its dir.
        await rm(report.dir, { recursive: true, force: true });
      }
    });
  });
});

describe('after every cluster is stopped', () => {
  it('no tracked process is left', () => {
    assert.equal(trackedProcessCount(), 0);
  });
});
