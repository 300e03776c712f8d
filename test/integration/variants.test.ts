/**
 * The normal path on every variant of the test bed: TLS with client
 * certificates, username/password (with token expiry), and the v2 API.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { StartClusterOptions } from '../../src/testbed/index.ts';
import type { StorageBackend } from '../../src/engine/cluster-spec.ts';
import { eventually } from '../../src/testing/wait.ts';
import { family, scrape } from '../support/scrape.ts';
import { hostPort, specFor } from '../support/specs.ts';
import { startInspectionServer } from '../support/inspection-server.ts';
import { clusterForTest } from '../support/clusters.ts';

const variants: [string, StartClusterOptions, StorageBackend][] = [
  ['TLS with client certificates (3.6)', { version: '3.6', tls: true }, 'v3'],
  [
    'username/password with a 2 s token TTL (3.6)',
    { version: '3.6', auth: true, authTokenTtlSeconds: 2 },
    'v3',
  ],
  ['TLS and auth (3.4)', { version: '3.4', tls: true, auth: true }, 'v3'],
  ['the v2 API (3.4, v2 storage backend)', { version: '3.4', enableV2: true }, 'v2'],
];

for (const [title, options, backend] of variants) {
  describe(title, () => {
    test('every member is discovered and healthy, alarms are read, rounds keep succeeding', async (t) => {
      const cluster = await clusterForTest(t, { members: 3, name: 'variant', ...options });
      const { daemon, address } = await startInspectionServer(t);
      await daemon.engine.upsert(
        // A round every second, with a deadline of 10: on a loaded machine a TLS handshake plus
        // etcd's bcrypt Authenticate can take longer than one second, and this test is about
        // rounds succeeding across token expiry and TLS, not about their speed.
        specFor(
          'v',
          cluster,
          {
            healthy: { intervalSeconds: 1, timeoutSeconds: 10 },
            alarm: { intervalSeconds: 1, timeoutSeconds: 10 },
          },
          { storageBackend: backend },
        ),
      );

      const healthy = await eventually(
        async () => {
          const h = family(await scrape(address), 'inspection_etcd_endpoint_healthy');
          return h.size === 3 && [...h.values()].every((v) => v === 1) ? h : undefined;
        },
        'three healthy members',
        15_000,
      );
      for (const url of cluster.endpoints)
        assert.equal(healthy.get(`{clusterName="v",endpoint="${hostPort(url)}"}`), 1);

      const snap = daemon.store.get('v')!;
      assert.equal(snap.members?.error, undefined);
      assert.equal(snap.members?.members.filter((m) => m.role === 'leader').length, 1);
      assert.ok(snap.members?.members.every((m) => m.id !== undefined && m.id > 0n));
      // Long enough for a 2 s auth token to expire: rounds must keep passing.
      const runs = snap.features.alarm!.runs;
      await eventually(
        () => ((daemon.store.get('v')!.features.alarm!.runs ?? 0) >= runs + 3 ? true : undefined),
        'more rounds',
        15_000,
      );
      const after = daemon.store.get('v')!;
      assert.equal(after.features.alarm!.failures, 0, after.features.alarm!.last?.error);
      assert.equal(after.features.healthy!.failures, 0, after.features.healthy!.last?.error);
      assert.equal(after.features.alarm!.last?.problems.length, 0);
    });
  });
}
