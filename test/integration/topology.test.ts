/**
 * topology on real etcd: a forced leader change, a learner added, started
 * and promoted, a member added but never started, an endpoint of another
 * cluster in the spec (3.6), and a mixed 3.5/3.6 cluster in the middle of a
 * rolling upgrade.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InspectionServer } from '../../src/inspection-server.ts';
import { parseEndpoint } from '../../src/etcd/endpoint.ts';
import { featureRegistry } from '../../src/features/index.ts';
import type { TopologyDetails } from '../../src/features/topology/topology.ts';
import { silentLogger } from '../../src/log.ts';
import { startEtcdCluster } from '../../src/testbed/index.ts';
import { eventually } from '../../src/testing/wait.ts';
import { scrape } from '../support/scrape.ts';
import { every, hostPort, specFor } from '../support/specs.ts';
import { clusterForTest } from '../support/clusters.ts';

function startServer(t: { after: (fn: () => Promise<void>) => void }): InspectionServer {
  const daemon = new InspectionServer({ logger: silentLogger(), registry: featureRegistry, jitter: false });
  t.after(() => daemon.close());
  return daemon;
}

const run = (daemon: InspectionServer, id: string) => daemon.store.get(id)?.features['topology']?.last;
const details = (daemon: InspectionServer, id: string) =>
  run(daemon, id)?.details as TopologyDetails | undefined;

describe('topology on etcd 3.6', () => {
  test('leader change, learner added and promoted, a member never started, an endpoint of another cluster', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.6', members: 3, name: 'topo' });
    const other = await startEtcdCluster({ version: '3.6', members: 1, name: 'topoother' });
    t.after(() => other.stop());
    const daemon = startServer(t);
    const address = await daemon.listen('127.0.0.1:0');
    const spec = specFor('topo', cluster, { topology: every(1) });
    await daemon.engine.upsert(spec);
    const metric = async (name: string): Promise<number | undefined> =>
      (await scrape(address)).get(`${name}{clusterName="topo"}`);

    // A healthy cluster: a leader, no problems.
    const first = await eventually(() => {
      const d = details(daemon, 'topo');
      return d?.leader !== undefined && run(daemon, 'topo')?.problems.length === 0 ? d : undefined;
    }, 'a leader and no problems');
    assert.equal(first.foreignEndpoints.length, 0);
    assert.equal(await metric('inspection_etcd_topology_has_leader'), 1);

    // A forced leader change.
    const target = (await cluster.etcdctl(['endpoint', 'status', '-w', 'json']))
      .trim()
      .match(/"member_id":(\d+)/g)!
      .map((s) => BigInt(s.split(':')[1]!).toString(16))
      .find((id) => id !== first.leader)!;
    const leaderUrl = cluster.endpoints.find((u) => hostPort(u) === first.leaderEndpoint)!;
    await cluster.etcdctl(['move-leader', target], { endpoints: [leaderUrl] });
    const moved = await eventually(() => {
      const d = details(daemon, 'topo');
      return d?.leader === target && d.leaderChanges >= 1 ? d : undefined;
    }, 'the leader moved');
    assert.ok(BigInt(moved.term!) > BigInt(first.term!), 'a higher term');
    assert.ok((await metric('inspection_etcd_topology_leader_changes_total'))! >= 1);

    // The leader stops and comes back: a new election, counted; the member
    // rejoins as a follower and the count does not go back.
    const leaderIndex = cluster.endpoints.findIndex((u) => hostPort(u) === moved.leaderEndpoint);
    await cluster.stopMember(leaderIndex);
    const reelected = await eventually(() => {
      const d = details(daemon, 'topo');
      return d?.leader !== undefined && d.leader !== moved.leader && d.leaderChanges > moved.leaderChanges
        ? d
        : undefined;
    }, 'a new leader after the leader stopped');
    await cluster.startMember(leaderIndex);
    await eventually(
      () => (details(daemon, 'topo')?.versions.length === 3 ? true : undefined),
      'the stopped member answers again',
    );
    assert.ok(
      details(daemon, 'topo')!.leaderChanges >= reelected.leaderChanges,
      'the counter never goes back',
    );

    // A learner, added and started, then promoted.
    const learnerIndex = await cluster.addMember({ learner: true });
    const learnerEndpoint = hostPort(cluster.endpoints[learnerIndex]!);
    const learner = await eventually(() => {
      const l = details(daemon, 'topo')?.learners.find((x) => x.endpoint === learnerEndpoint);
      return l?.lagEntries !== undefined ? l : undefined;
    }, 'the learner with its lag');
    assert.equal(learner.started, true);
    assert.equal(await metric('inspection_etcd_topology_learners'), 1);
    await eventually(
      async () =>
        (await scrape(address)).has(
          `inspection_etcd_topology_learner_lag_entries{clusterName="topo",endpoint="${learnerEndpoint}"}`,
        ),
      'learner lag series',
    );
    // etcd refuses the promotion until the learner has caught up: retry.
    await eventually(
      async () => {
        await cluster.etcdctl(['member', 'promote', learner.id]);
        return true;
      },
      'promotion accepted',
      30_000,
      500,
    );
    await eventually(
      () => (details(daemon, 'topo')?.learners.length === 0 ? true : undefined),
      'no learner after promotion',
    );
    assert.equal(await metric('inspection_etcd_topology_learners'), 0);

    // A member added but never started.
    await cluster.addMember({ start: false });
    const unstartedProblem = await eventually(
      () =>
        run(daemon, 'topo')?.problems.find((p) =>
          /without client URLs: it was added but never started/.test(p),
        ),
      'the unstarted member reported',
    );
    const unstartedId = details(daemon, 'topo')!.unstarted[0]!.id;
    assert.match(
      unstartedProblem,
      new RegExp(`member ${unstartedId} \\(peer http://127\\.0\\.0\\.1:\\d+\\)`),
    );
    assert.match(unstartedProblem, /etcdctl member remove/);
    assert.equal(await metric('inspection_etcd_topology_unstarted_members'), 1);
    await cluster.etcdctl(['member', 'remove', unstartedId]);
    await eventually(
      () => (details(daemon, 'topo')?.unstarted.length === 0 ? true : undefined),
      'the unstarted member removed',
    );

    // One endpoint of another cluster in the spec.
    const stranger = hostPort(other.endpoints[0]!);
    await daemon.engine.upsert({
      ...spec,
      endpoints: [...spec.endpoints, parseEndpoint(other.endpoints[0]!)],
    });
    const problem = await eventually(
      () => run(daemon, 'topo')?.problems.find((p) => p.startsWith('critical: endpoint')),
      'the foreign endpoint reported',
    );
    assert.match(
      problem,
      // The member's name follows the endpoint once a status read has told it (not on the first round).
      new RegExp(
        `endpoint ${stranger.replaceAll('.', '\\.')} (\\([^)]+\\) )?answers as member [0-9a-f]+ of cluster`,
      ),
    );
    assert.match(problem, /belongs to another etcd cluster/);
    // The API's why section names the endpoint, the fact and what to do.
    const api = (await (await fetch(`http://${address}/api/v1/clusters/topo`)).json()) as {
      why: {
        feature: string;
        member: string;
        cause: string;
        severity: string;
        action: string;
        runbook: string;
      }[];
    };
    const why = api.why.find((w) => w.cause === 'endpoint of another cluster');
    assert.ok(why !== undefined && why.member.startsWith(stranger), JSON.stringify(api.why));
    assert.equal(why.feature, 'topology');
    assert.equal(why.severity, 'critical');
    assert.equal(why.runbook, 'EtcdEndpointOfAnotherCluster');
    assert.match(why.action, /fix the endpoints or the member/);
    assert.equal(
      (await scrape(address)).get(
        `inspection_etcd_topology_cluster_id_mismatch{clusterName="topo",endpoint="${stranger}"}`,
      ),
      1,
    );
    assert.equal(details(daemon, 'topo')!.clusterId, first.clusterId, 'the cluster keeps its identity');
    const ours = hostPort(cluster.endpoints[0]!);
    assert.equal(
      (await scrape(address)).get(
        `inspection_etcd_topology_cluster_id_mismatch{clusterName="topo",endpoint="${ours}"}`,
      ),
      0,
    );
  });
});

describe('topology in a rolling upgrade', () => {
  test('one 3.6 member in a 3.5 cluster is version skew naming who runs what', async (t) => {
    const cluster = await clusterForTest(t, { version: '3.5', members: 3, name: 'skew' });
    const daemon = startServer(t);
    const address = await daemon.listen('127.0.0.1:0');
    await daemon.engine.upsert(specFor('skew', cluster, { topology: every(1) }));
    await eventually(
      () =>
        run(daemon, 'skew')?.ok === true && run(daemon, 'skew')?.problems.length === 0 ? true : undefined,
      'no problems before the upgrade',
    );
    await cluster.stopMember(2);
    await cluster.startMember(2, { version: '3.6' });
    const upgraded = hostPort(cluster.endpoints[2]!);
    const problem = await eventually(
      () => run(daemon, 'skew')?.problems.find((p) => p.includes('different minor versions')),
      'version skew reported',
      20_000,
    );
    assert.match(problem, new RegExp(`3\\.6 on ${upgraded.replaceAll('.', '\\.')} \\(skew-2\\) 3\\.6\\.`));
    assert.match(problem, /3\.5 on .*3\.5\.35/);
    assert.match(problem, /cluster version 3\.5/);
    // A finding for each member the upgrade has still to reach, none for the upgraded one.
    const skew = (run(daemon, 'skew')?.findings ?? []).filter((f) => f.cause === 'version skew');
    assert.equal(skew.length, 2, JSON.stringify(skew));
    for (const f of skew) {
      assert.ok(!f.member.startsWith(upgraded), f.member);
      assert.match(f.measure, /^runs 3\.5\.\d+, 3\.6 on 1 other member\(s\)/);
    }
    const m = await scrape(address);
    assert.equal(m.get('inspection_etcd_topology_server_minor_versions{clusterName="skew"}'), 2);
    const v = details(daemon, 'skew')!.versions.find((x) => x.endpoint === upgraded)!;
    assert.match(v.server, /^3\.6\./);
    assert.match(v.storage, /^3\.5/, 'a 3.6 member in a 3.5 cluster keeps the 3.5 storage version');
  });
});
