/**
 * The kube-apiserver test bed itself: identities (admin in system:masters,
 * ServiceAccount tokens from the TokenRequest API), manifests, and a stop()
 * that leaves no process and no directory behind.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  kubeApiserverBinary,
  readVersionsEnv,
  startKubeApiserver,
  trackedProcessCount,
} from '../../src/testbed/index.ts';

interface SelfSubjectReview {
  status: { userInfo: { username: string; groups: string[] } };
}

describe('kube-apiserver test bed', () => {
  it('names the build script when the binary is missing', () => {
    assert.throws(
      () => kubeApiserverBinary({ ETCD_MONITOR_KUBE_APISERVER: '/nonexistent/kube-apiserver' }),
      /kube-apiserver 1\.\d+\.\d+ not found at \/nonexistent\/kube-apiserver \(from ETCD_MONITOR_KUBE_APISERVER\); build it with `bash hack\/build-kube-apiserver.sh`/,
    );
  });

  it('serves KUBE_VERSION with RBAC, an admin and ServiceAccount identities; stop() leaves nothing', async () => {
    const processesBefore = trackedProcessCount();
    const server = await startKubeApiserver();
    const dir = server.dir;
    const pids = [server.pid, ...server.etcd.members.map((m) => m.pid)];
    try {
      const version = await server.request('GET', '/version');
      assert.equal(
        (version.body as { gitVersion: string }).gitVersion,
        `v${readVersionsEnv()['KUBE_VERSION']}`,
      );
      assert.equal(server.version, readVersionsEnv()['KUBE_VERSION']);
      assert.match(server.url, /^https:\/\/127\.0\.0\.1:\d+$/);

      const review = { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' };
      const admin = await server.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', review);
      assert.equal(admin.status, 201, JSON.stringify(admin.body));
      assert.ok((admin.body as SelfSubjectReview).status.userInfo.groups.includes('system:masters'));

      await server.applyManifests(`apiVersion: v1
kind: ServiceAccount
metadata: {name: op, namespace: tb}
---
apiVersion: v1
kind: Namespace
metadata: {name: tb}
`);
      const token = await server.serviceAccountToken('tb', 'op', { expirationSeconds: 600 });
      const sa = await server.request('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', review, {
        token,
      });
      assert.equal((sa.body as SelfSubjectReview).status.userInfo.username, 'system:serviceaccount:tb:op');
      // RBAC is on: a ServiceAccount may do nothing it was not granted.
      const forbidden = await server.request('GET', '/api/v1/namespaces/tb/pods', undefined, { token });
      assert.equal(forbidden.status, 403);
      // Anonymous requests are not admins either.
      const anonymous = await server.request('GET', '/api/v1/namespaces', undefined, {
        token: 'not-a-token',
      });
      assert.equal(anonymous.status, 401);

      await assert.rejects(
        server.serviceAccountToken('tb', 'missing'),
        /TokenRequest for ServiceAccount tb\/missing failed: HTTP 404/,
      );
      await assert.rejects(
        server.applyManifests('apiVersion: v1\nkind: Gadget\nmetadata: {name: g}\n'),
        /does not serve kind Gadget of v1/,
      );
      await assert.rejects(server.applyManifests('kind: [unclosed\n'), /manifest text: /);

      // A CRD and an object of its kind in one batch: the object waits for the CRD.
      await server.applyManifests(`apiVersion: tb.example.com/v1
kind: Widget
metadata: {name: w, namespace: tb}
spec: {size: 3}
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.tb.example.com}
spec:
  group: tb.example.com
  names: {kind: Widget, plural: widgets}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
`);
      const widget = await server.request('GET', '/apis/tb.example.com/v1/namespaces/tb/widgets/w');
      assert.deepEqual((widget.body as { spec: unknown }).spec, { size: 3 });

      const files = await mkdtemp(join(tmpdir(), 'etcd-monitor-manifests-'));
      try {
        await writeFile(
          join(files, 'b.yaml'),
          'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: from-dir, namespace: tb}\ndata: {k: v}\n',
        );
        await writeFile(join(files, 'ignored.txt'), 'not a manifest');
        await server.applyManifests([files]);
        const cm = await server.request('GET', '/api/v1/namespaces/tb/configmaps/from-dir');
        assert.deepEqual((cm.body as { data: unknown }).data, { k: 'v' });
      } finally {
        await rm(files, { recursive: true, force: true });
      }
    } finally {
      await server.stop();
    }
    await server.stop();
    assert.equal(existsSync(dir), false, 'the directory is removed');
    assert.equal(trackedProcessCount(), processesBefore);
    for (const pid of pids) {
      assert.ok(pid !== undefined);
      assert.throws(() => process.kill(pid, 0), /ESRCH/, `process ${pid} is gone`);
    }
  });
});
