/**
 * Bad input and faults on real etcd: unreachable endpoint, wrong CA, wrong
 * password, each beside a good cluster that must not notice. Errors name the
 * problem in the snapshot, the log and the API; secrets appear nowhere.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { InspectionServer } from '../../src/inspection-server.ts';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { Secret } from '../../src/etcd/secret.ts';
import { featureRegistry } from '../../src/features/index.ts';
import { createLogger } from '../../src/log.ts';
import { freePort, startEtcdCluster, type TestCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { scrape, seriesReaches } from '../support/scrape.ts';
import { clientOptionsFor, every, hostPort, specFor } from '../support/specs.ts';

describe('faults', () => {
  let plain: TestCluster;
  let secure: TestCluster;
  let daemon: InspectionServer;
  let address: string;
  const logs: string[] = [];
  const WRONG_PASSWORD = 'not-the-password-9f3c';

  before(async () => {
    [plain, secure] = await Promise.all([
      startEtcdCluster({ version: '3.6', members: 1, name: 'faultplain' }),
      startEtcdCluster({ version: '3.6', members: 1, tls: true, auth: true, name: 'faultsecure' }),
    ]);
    const sink = new PassThrough();
    sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
    daemon = new InspectionServer({
      logger: createLogger({ level: 'debug', destination: sink }),
      registry: featureRegistry,
      jitter: false,
    });
    address = await daemon.listen('127.0.0.1:0');
    const features = { healthy: every(1), alarm: every(1) };
    const dead = await freePort();
    await daemon.engine.apply([
      specFor('good', plain, features),
      specFor('unreachable', plain, features, {
        endpoints: [parseEndpoint(`http://127.0.0.1:${dead}`)],
        client: { dialTimeoutMs: 1000, requestTimeoutMs: 1000 },
      }),
      specFor('wrongca', secure, features, {
        client: clientOptionsFor(secure, {
          tls: { ca: secure.tls!.otherCa, cert: secure.tls!.cert, key: new Secret(secure.tls!.key) },
        }),
      }),
      specFor('wrongpw', secure, features, {
        client: clientOptionsFor(secure, {
          auth: { username: 'root', password: new Secret(WRONG_PASSWORD) },
        }),
      }),
      specFor('secure', secure, features),
    ]);
  });
  after(async () => {
    await daemon?.close();
    await Promise.all([plain?.stop(), secure?.stop()]);
  });

  // A cluster whose every call fails (wrong password, dial timeouts) takes longest to settle under load.
  const settled = (id: string) =>
    eventually(
      () => {
        const s = daemon.store.get(id);
        return s?.members !== undefined &&
          s.features.healthy?.last !== undefined &&
          s.features.alarm?.last !== undefined
          ? s
          : undefined;
      },
      `${id} inspected`,
      30_000,
    );

  test('an unreachable endpoint: membership error naming the endpoint, healthy 0, alarm round failed', async () => {
    const snap = await settled('unreachable');
    assert.match(snap.members?.error ?? '', /no endpoint answered MemberList: .*127\.0\.0\.1:\d+/);
    const metrics = await scrape(address);
    const endpoint = snap.endpoints[0]!.replace('http://', '');
    assert.equal(
      metrics.get(`inspection_etcd_endpoint_healthy{clusterName="unreachable",endpoint="${endpoint}"}`),
      0,
    );
    assert.equal(metrics.get('inspection_etcd_member_discovery_success{clusterName="unreachable"}'), 0);
    assert.equal(snap.features.alarm?.last?.ok, false);
    await eventually(
      async () =>
        ((await scrape(address)).get(
          'inspection_failed_num{clusterName="unreachable",inspectionType="alarm"}',
        ) ?? 0) >= 1
          ? true
          : undefined,
      'failure counted',
    );
  });

  test('a wrong CA: a TLS error naming the member', async () => {
    const snap = await settled('wrongca');
    const member = snap.members!.members[0]!;
    assert.match(snap.members?.error ?? member.error ?? '', /certificate|TLS|tls/i);
    assert.equal(
      (await scrape(address)).get(
        `inspection_etcd_endpoint_healthy{clusterName="wrongca",endpoint="${hostPort(secure.endpoints[0]!)}"}`,
      ),
      0,
    );
  });

  test('a wrong password: an auth error that never shows the password', async () => {
    const snap = await settled('wrongpw');
    assert.match(snap.members?.error ?? '', /auth/i);
    assert.equal(snap.features.alarm?.last?.ok, false);
    assert.match(snap.features.alarm?.last?.error ?? '', /authentication failed|auth/i);
  });

  test('the good clusters are unaffected, and no secret reaches logs, API or metrics', async () => {
    for (const id of ['good', 'secure']) {
      const snap = await settled(id);
      assert.equal(snap.members?.error, undefined, id);
      await seriesReaches(
        address,
        `inspection_etcd_endpoint_healthy{clusterName="${id}",endpoint="${hostPort(snap.endpoints[0]!)}"}`,
        1,
        `${id} healthy`,
      );
    }
    const runsBefore = daemon.store.get('good')!.features.healthy!.runs;
    await eventually(
      () => (daemon.store.get('good')!.features.healthy!.runs >= runsBefore + 2 ? true : undefined),
      'good keeps running',
    );

    const api = await (await fetch(`http://${address}/api/v1/clusters`)).text();
    const metrics = await (await fetch(`http://${address}/metrics`)).text();
    const logText = logs.join('');
    assert.match(logText, /wrongpw/, 'the failing cluster is logged');
    for (const secret of [WRONG_PASSWORD, secure.auth!.password, secure.tls!.key.split('\n')[1]!]) {
      assert.equal(api.includes(secret), false, 'secret in API');
      assert.equal(metrics.includes(secret), false, 'secret in metrics');
      assert.equal(logText.includes(secret), false, 'secret in logs');
    }
  });

  test('removing a failing cluster leaves no series behind', async () => {
    await daemon.engine.remove('unreachable');
    const text = await (await fetch(`http://${address}/metrics`)).text();
    assert.equal(text.includes('clusterName="unreachable"'), false);
    assert.equal(daemon.store.get('unreachable'), undefined);
  });
});
