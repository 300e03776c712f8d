import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assessTopology, compareMinor, newMemory, type EndpointObservation } from './assess.ts';
import type { MemberInfo } from '../../etcd/types.ts';
import type { Finding } from '../../findings.ts';

/** member, cause, severity, runbook: what the why section shows of each finding. */
const brief = (findings: readonly Finding[]) =>
  findings.map((f) => [f.member, f.cause, f.severity, f.runbook]);

const T = { learnerLagEntries: 100, maxLeaderChanges: 2, leaderChangeWindowSeconds: 3600 };
const CLUSTER = 0xc1n;
const list: MemberInfo[] = [1n, 2n, 3n].map((id) => ({
  id,
  name: `m${id}`,
  clientURLs: [`http://10.0.0.${id}:2379`],
  peerURLs: [`http://10.0.0.${id}:2380`],
  isLearner: false,
}));

function obs(
  id: bigint,
  over: Partial<NonNullable<EndpointObservation['status']>> = {},
  members = list,
): EndpointObservation {
  return {
    endpoint: `10.0.0.${id}:2379`,
    name: `m${id}`,
    status: {
      clusterId: CLUSTER,
      memberId: id,
      leader: 1n,
      raftTerm: 2n,
      raftAppliedIndex: 1000n,
      version: '3.6.16',
      storageVersion: '3.6.0',
      isLearner: false,
      ...over,
    },
    members,
    clusterVersion: '3.6.0',
  };
}

test('a healthy cluster: one leader, no problems', () => {
  const v = assessTopology([obs(1n), obs(2n), obs(3n)], newMemory(), T, 0);
  assert.deepEqual(v.problems, []);
  assert.deepEqual(v.findings, []);
  assert.equal(v.leader, '1');
  assert.equal(v.leaderEndpoint, '10.0.0.1:2379');
  assert.equal(v.term, '2');
  assert.match(v.summary, /leader 10\.0\.0\.1:2379 \(m1\), term 2/);
});

test('an endpoint of another cluster is critical and named; the rest is judged without it', () => {
  const stranger: EndpointObservation = { ...obs(9n, { clusterId: 0xbadn, leader: 9n }), name: '' };
  const v = assessTopology([obs(1n), obs(2n), obs(3n), stranger], newMemory(), T, 0);
  assert.equal(v.clusterId, 'c1');
  assert.deepEqual(v.foreignEndpoints, [{ endpoint: '10.0.0.9:2379', clusterId: 'bad' }]);
  assert.equal(v.problems.length, 1);
  assert.match(
    v.problems[0]!,
    /^critical: endpoint 10\.0\.0\.9:2379 answers as member 9 of cluster bad, while 3 other/,
  );
  assert.deepEqual(brief(v.findings), [
    ['10.0.0.9:2379', 'endpoint of another cluster', 'critical', 'EtcdEndpointOfAnotherCluster'],
  ]);
  assert.equal(
    v.findings[0]!.measure,
    'answers as member 9 of cluster bad; 3 other endpoint(s) as cluster c1',
  );
  assert.equal(v.findings[0]!.value, undefined, 'a fact, not a figure');
});

test('a cluster ID that changes between rounds is a critical finding about the cluster', () => {
  const memory = newMemory();
  assessTopology([obs(1n), obs(2n)], memory, T, 0);
  const v = assessTopology([obs(1n, { clusterId: 0xc2n }), obs(2n, { clusterId: 0xc2n })], memory, T, 1000);
  assert.deepEqual(brief(v.findings), [
    ['cluster', 'cluster ID changed', 'critical', 'EtcdEndpointOfAnotherCluster'],
  ]);
  assert.equal(v.findings[0]!.measure, 'cluster ID c2, was c1');
});

test('a member with no leader, or another leader, is a finding once it persists', () => {
  const memory = newMemory();
  const round = (at: number) =>
    assessTopology([obs(1n), obs(2n), obs(3n, { leader: 0n }), obs(4n, { leader: 2n })], memory, T, at);
  assert.deepEqual(round(0).findings, [], 'one round may be an election');
  const v = round(1000);
  assert.deepEqual(brief(v.findings), [
    ['10.0.0.3:2379 (m3)', 'no leader', 'critical', 'EtcdNoLeader'],
    ['10.0.0.4:2379 (m4)', 'follows another leader', 'warning', 'EtcdNoLeader'],
  ]);
  assert.equal(v.findings[1]!.measure, 'follows 2, the others 1');
  assert.equal(v.findings.length, v.problems.length);
});

test('leader changes: another leader or a higher term counts; too many in the window is a problem', () => {
  const memory = newMemory();
  assessTopology([obs(1n), obs(2n)], memory, T, 0);
  let v = assessTopology(
    [obs(1n, { leader: 2n, raftTerm: 3n }), obs(2n, { leader: 2n, raftTerm: 3n })],
    memory,
    T,
    1000,
  );
  assert.equal(v.leaderChanges, 1);
  v = assessTopology(
    [obs(1n, { leader: 2n, raftTerm: 4n }), obs(2n, { leader: 2n, raftTerm: 4n })],
    memory,
    T,
    2000,
  );
  assert.equal(v.leaderChanges, 2, 're-elected in a higher term');
  assert.deepEqual(v.problems, []);
  v = assessTopology(
    [obs(1n, { leader: 1n, raftTerm: 5n }), obs(2n, { leader: 1n, raftTerm: 5n })],
    memory,
    T,
    3000,
  );
  assert.equal(v.leaderChanges, 3);
  assert.match(v.problems[0]!, /the leader changed 3 times in the last 60m/);
  assert.deepEqual(
    v.findings.map((f) => [f.member, f.value, f.threshold, f.unit, f.window, f.runbook]),
    [['cluster', 3, 2, 'count', 'over the last 60m', 'EtcdFrequentLeaderChanges']],
  );
  assert.match(v.findings[0]!.measure, /now 10\.0\.0\.1:2379 \(m1\), term 5/);
  v = assessTopology(
    [obs(1n, { leader: 1n, raftTerm: 5n }), obs(2n, { leader: 1n, raftTerm: 5n })],
    memory,
    T,
    3_700_000,
  );
  assert.deepEqual(v.problems, [], 'out of the window');
});

test('an unstarted member and disagreeing lists are problems only when they persist', () => {
  const withNew: MemberInfo[] = [
    ...list,
    { id: 4n, name: '', clientURLs: [], peerURLs: ['http://10.0.0.4:2380'], isLearner: false },
  ];
  const memory = newMemory();
  let v = assessTopology([obs(1n, {}, withNew), obs(2n, {}, withNew), obs(3n, {}, list)], memory, T, 0);
  assert.deepEqual(v.problems, []);
  assert.equal(v.memberListsDisagree, true);
  v = assessTopology([obs(1n, {}, withNew), obs(2n, {}, withNew), obs(3n, {}, list)], memory, T, 1000);
  assert.equal(v.problems.length, 2);
  assert.ok(
    v.problems.some((p) =>
      /member 4 \(peer http:\/\/10\.0\.0\.4:2380\) is in the membership without client URLs/.test(p),
    ),
  );
  assert.ok(v.problems.some((p) => /10\.0\.0\.3:2379 \(m3\) lists \[1,2,3\]/.test(p)));
  // The member that never started, and the one member whose list is not the common one.
  assert.deepEqual(brief(v.findings), [
    ['10.0.0.3:2379 (m3)', 'member list differs', 'warning', 'EtcdMemberListsDisagree'],
    ['4 (peer http://10.0.0.4:2380)', 'member never started', 'warning', 'EtcdMemberNotStarted'],
  ]);
  assert.equal(v.findings[0]!.measure, 'lists [1,2,3], the others [1,2,3,4]');
  assert.match(v.findings[1]!.action, /etcdctl member remove 4/);
});

test('learners: lag against the leader; version skew names who runs what', () => {
  const withLearner: MemberInfo[] = [...list.slice(0, 2), { ...list[2]!, isLearner: true }];
  const memory = newMemory();
  const round = () =>
    assessTopology(
      [
        obs(1n, {}, withLearner),
        obs(2n, { version: '3.5.35', storageVersion: '' }, withLearner),
        obs(3n, { isLearner: true, raftAppliedIndex: 500n }, withLearner),
      ],
      memory,
      T,
      0,
    );
  round();
  const v = round();
  assert.equal(v.learners.length, 1);
  assert.equal(v.learners[0]!.lagEntries, 500);
  assert.ok(
    v.problems.some((p) => /learner 10\.0\.0\.3:2379 \(m3\) trails the leader by 500 entries/.test(p)),
  );
  assert.deepEqual(v.serverMinors, ['3.5', '3.6']);
  assert.ok(
    v.problems.some((p) =>
      /different minor versions \(3\.5 on 10\.0\.0\.2:2379 \(m2\) 3\.5\.35; 3\.6 on/.test(p),
    ),
  );
  assert.ok(compareMinor('3.10', '3.9') > 0);
  // The learner with its lag against the bound; the member behind the newest minor.
  assert.deepEqual(brief(v.findings), [
    ['10.0.0.3:2379 (m3)', 'learner lagging', 'warning', 'EtcdLearnerLagging'],
    ['10.0.0.2:2379 (m2)', 'version skew', 'warning', 'EtcdVersionSkew'],
  ]);
  assert.deepEqual([v.findings[0]!.value, v.findings[0]!.threshold], [500, 100]);
  assert.equal(v.findings[1]!.measure, 'runs 3.5.35, 3.6 on 2 other member(s), cluster version 3.6.0');
});

test('every member on the new version but the cluster version behind: a finding at the leader', () => {
  const memory = newMemory();
  const round = (at: number) =>
    assessTopology(
      [obs(1n), obs(2n)].map((o) => ({ ...o, clusterVersion: '3.5.0' })),
      memory,
      T,
      at,
    );
  round(0);
  const v = round(1000);
  assert.deepEqual(brief(v.findings), [
    ['10.0.0.1:2379 (m1)', 'upgrade not complete', 'warning', 'EtcdVersionSkew'],
  ]);
  assert.equal(v.findings[0]!.measure, 'cluster version 3.5.0 while every member runs 3.6');
});
