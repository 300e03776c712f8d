/**
 * An in-memory stand-in for the access layer, for unit tests of pure engine
 * logic (scheduling, ownership, snapshots). Every feature is also tested on
 * real etcd in test/integration.
 */
import type { Endpoint } from '../etcd/endpoint.ts';
import { EtcdError } from '../etcd/types.ts';
import type {
  AlarmMember,
  CallOptions,
  EtcdHttpMemberClient,
  EtcdV2MemberClient,
  EtcdV3MemberClient,
  MemberListResult,
  ResponseHeader,
  StatusResult,
} from '../etcd/types.ts';
import type { ClientFactory } from '../engine/connection.ts';

export interface FakeMember {
  id: bigint;
  name: string;
  url: string;
  up: boolean;
  /** Calls hang until aborted. */
  hang: boolean;
}

export class FakeCluster {
  readonly members: FakeMember[];
  alarms: AlarmMember[] = [];
  leader: bigint;
  readonly calls: string[] = [];
  readonly opened: string[] = [];
  readonly closed: string[] = [];

  constructor(basePort: number, size = 3) {
    this.members = Array.from({ length: size }, (_, i) => ({
      id: 0x1000n + BigInt(basePort) * 16n + BigInt(i),
      name: `m${i}`,
      url: `http://127.0.0.1:${basePort + i}`,
      up: true,
      hang: false,
    }));
    this.leader = this.members[0]!.id;
  }

  header(m: FakeMember): ResponseHeader {
    return { clusterId: 0xc1n, memberId: m.id, revision: 10n, raftTerm: 2n };
  }

  member(endpoint: Endpoint): FakeMember | undefined {
    return this.members.find((m) => m.url === endpoint.url);
  }
}

async function answer<T>(
  cluster: FakeCluster,
  endpoint: Endpoint,
  call: string,
  opts: CallOptions | undefined,
  value: (m: FakeMember) => T,
): Promise<T> {
  cluster.calls.push(`${call}@${endpoint.hostPort}`);
  const m = cluster.member(endpoint);
  if (m === undefined || !m.up)
    throw new EtcdError('unavailable', endpoint.hostPort, call, 'connection refused');
  if (m.hang) {
    await new Promise((_resolve, reject) => {
      const signal = opts?.signal;
      if (signal === undefined) return;
      if (signal.aborted) reject(new EtcdError('canceled', endpoint.hostPort, call, 'aborted'));
      signal.addEventListener(
        'abort',
        () => reject(new EtcdError('canceled', endpoint.hostPort, call, 'aborted')),
        { once: true },
      );
    });
  }
  return value(m);
}

const notUsed = (what: string) => (): never => {
  throw new Error(`fake: ${what} not implemented`);
};

export function fakeClients(clusters: FakeCluster[]): ClientFactory {
  const find = (endpoint: Endpoint): FakeCluster =>
    clusters.find((c) => c.member(endpoint) !== undefined) ?? clusters[0]!;
  /** Records a client of `kind` opened on the endpoint; `ask` answers its calls from the endpoint's member. */
  const open = (kind: 'v3' | 'http', endpoint: Endpoint) => {
    const c = find(endpoint);
    c.opened.push(`${kind}@${endpoint.hostPort}`);
    const ask = <T>(call: string, o: CallOptions | undefined, value: (m: FakeMember) => T): Promise<T> =>
      answer(c, endpoint, call, o, value);
    return { c, ask };
  };
  return {
    v3(endpoint: Endpoint): EtcdV3MemberClient {
      const { c, ask } = open('v3', endpoint);
      return {
        endpoint,
        memberList: (o) =>
          ask(
            'MemberList',
            o,
            (m): MemberListResult => ({
              header: c.header(m),
              members: c.members.map((x) => ({
                id: x.id,
                name: x.name,
                peerURLs: [],
                clientURLs: [x.url],
                isLearner: false,
              })),
            }),
          ),
        status: (o) =>
          ask(
            'Status',
            o,
            (m): StatusResult => ({
              header: c.header(m),
              version: '3.6.0',
              dbSize: 4096n,
              dbSizeInUse: 2048n,
              leader: c.leader,
              raftIndex: 100n,
              raftTerm: 2n,
              raftAppliedIndex: 100n,
              errors: [],
              isLearner: false,
              dbSizeQuota: 0n,
              storageVersion: '',
            }),
          ),
        alarmList: (o) => ask('Alarm', o, () => c.alarms),
        alarmDisarm: notUsed('alarmDisarm'),
        alarmActivate: notUsed('alarmActivate'),
        range: notUsed('range'),
        rangePages: notUsed('rangePages'),
        hashKV: notUsed('hashKV'),
        put: notUsed('put'),
        leaseGrant: notUsed('leaseGrant'),
        leaseRevoke: notUsed('leaseRevoke'),
        leaseKeepAliveOnce: notUsed('leaseKeepAliveOnce'),
        deleteRange: notUsed('deleteRange'),
        compact: notUsed('compact'),
        defragment: notUsed('defragment'),
        watch: notUsed('watch'),
        close: () => void c.closed.push(`v3@${endpoint.hostPort}`),
      };
    },
    http(endpoint: Endpoint): EtcdHttpMemberClient {
      const { c, ask } = open('http', endpoint);
      return {
        endpoint,
        health: (o) =>
          ask('health', o, () => ({
            healthy: c.alarms.length === 0,
            reason: c.alarms.length === 0 ? '' : 'ALARM',
            httpStatus: 200,
          })),
        version: (o) => ask('version', o, () => ({ etcdserver: '3.6.0', etcdcluster: '3.6.0' })),
        metrics: (o) => ask('metrics', o, () => ({ text: '', bytes: 0 })),
        close: async () => void c.closed.push(`http@${endpoint.hostPort}`),
      };
    },
    v2(endpoint: Endpoint): EtcdV2MemberClient {
      throw new Error(`fake: no v2 client for ${endpoint.url}`);
    },
  };
}
