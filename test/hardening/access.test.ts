/**
 * The monitor's own credential trouble is not an etcd outage (issue 13,
 * point 7): a member that refuses the monitor's user or password has no
 * inspection_etcd_endpoint_healthy series (unknown, not 0), and the
 * monitor's access error is its own metric and problem.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Secret } from '../../src/etcd/secret.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { InspectionServer } from '../../src/inspection-server.ts';
import { silentLogger } from '../../src/log.ts';
import { startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { cli } from '../support/cli.ts';
import { family, scrape } from '../support/scrape.ts';
import { clientOptionsFor, every, hostPort, specFor } from '../support/specs.ts';
import { suiteTempDir } from '../../src/testing/temp-dir.ts';

describe('credentials the member refuses', () => {
  let etcd: TestCluster;
  let server: InspectionServer;
  let address: string;
  const dir = suiteTempDir('etcd-monitor-access-');

  before(async () => {
    etcd = await startEtcdCluster({ version: '3.6', members: 1, auth: true, name: 'access' });
    server = new InspectionServer({ logger: silentLogger(), registry: featureRegistry, jitter: false });
    address = await server.listen('127.0.0.1:0');
    const features = { healthy: every(1) };
    await server.engine.apply([
      specFor('good', etcd, features),
      specFor('wrongpw', etcd, features, {
        client: clientOptionsFor(etcd, { auth: { username: 'root', password: new Secret('wrong-9f3c') } }),
      }),
      specFor('nouser', etcd, features, {
        client: clientOptionsFor(etcd, { auth: { username: 'monitor', password: new Secret('x') } }),
      }),
    ]);
  });
  after(async () => {
    await server?.close();
    await etcd?.stop();
  });

  for (const [id, user] of [
    ['wrongpw', 'root'],
    ['nouser', 'monitor'],
  ] as const) {
    test(`${id}: health unknown (no series), the monitor's access error exported and explained`, async () => {
      const endpoint = hostPort(etcd.endpoints[0]!);
      const snap = await eventually(() => {
        const s = server.store.get(id);
        // A round that timed out on a loaded machine says nothing about credentials: wait for one that answered.
        return s?.features.healthy?.last?.ok === true &&
          s.features.healthy.last.problems.some((p) => p.startsWith('cannot authenticate'))
          ? s
          : undefined;
      }, `${id} inspected`);
      const problems = snap.features.healthy!.last!.problems.join('\n');
      assert.match(
        problems,
        new RegExp(`cannot authenticate as user ${user}: wrong user name or password on ${endpoint}`),
      );
      assert.doesNotMatch(problems, /is unhealthy/);
      const metrics = await scrape(address);
      assert.deepEqual(
        [...family(metrics, 'inspection_etcd_endpoint_healthy').keys()].filter((k) => k.includes(`"${id}"`)),
        [],
      );
      assert.equal(
        family(metrics, 'inspection_monitor_access_error').get(
          `{clusterName="${id}",endpoint="${endpoint}",reason="auth"}`,
        ),
        1,
      );
      // Membership: the member's status is 0 and says why, in the monitor's words, not as an etcd outage.
      const members = await eventually(() => server.store.get(id)?.members, `${id} members read`);
      const refused = new RegExp(
        `^cannot authenticate as user ${user}: wrong user name or password on ${endpoint}: the monitor's credentials are refused, so this member's status is unknown \\(etcd itself may be fine\\); fix the monitor's user or password file$`,
      );
      assert.match(members.members[0]?.error ?? '', refused);
      assert.match(
        members.error ?? '',
        new RegExp(`^cannot authenticate as user ${user}: wrong user name or password on every endpoint: `),
      );
      assert.equal(
        (await scrape(address)).get(
          `inspection_etcd_member_status_up{clusterName="${id}",endpoint="${endpoint}"}`,
        ),
        0,
      );
    });
  }

  test('the cluster with good credentials is healthy 1 and its access error 0', async () => {
    const endpoint = hostPort(etcd.endpoints[0]!);
    const metrics = await eventually(async () => {
      const m = await scrape(address);
      return m.get(`inspection_etcd_endpoint_healthy{clusterName="good",endpoint="${endpoint}"}`) === 1
        ? m
        : undefined;
    }, 'good healthy');
    assert.deepEqual(
      [...family(metrics, 'inspection_monitor_access_error')].filter(([k]) => k.includes('"good"')),
      [[`{clusterName="good",endpoint="${endpoint}",reason="auth"}`, 0]],
    );
  });

  test('inspect: the member is "unknown", not unhealthy, and the reason is the monitor\'s', async () => {
    const pw = join(dir, 'pw');
    await writeFile(pw, 'wrong-9f3c\n');
    const r = await cli([
      'inspect',
      '--endpoints',
      etcd.endpoints[0]!,
      '--user',
      'root',
      '--password-file',
      pw,
      '--features',
      'healthy',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 1, r.stderr);
    const report = JSON.parse(r.stdout) as { members: { healthy: boolean | null }[]; problems: string[] };
    assert.equal(report.members[0]!.healthy, null);
    assert.match(report.problems.join('\n'), /cannot authenticate as user root: wrong user name or password/);
    assert.doesNotMatch(r.stdout + r.stderr, /wrong-9f3c/);
  });
});
