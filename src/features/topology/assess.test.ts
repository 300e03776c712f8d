import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assessTopology, compareMinor, newMemory, type EndpointObservation } from './assess.ts';
import type { MemberInfo } from '../../etcd/types.ts';

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
});
