import { memberIdHex } from '../etcd/types.ts';
import type { ClusterSnapshot, MemberSnapshot } from './snapshot.ts';
import { collectWhy } from './why.ts';

/** JSON for APIs and the CLI: member IDs in hex (as etcdctl), other 64-bit values as decimal strings (exact). */
export function memberToJson(m: MemberSnapshot): Record<string, unknown> {
  return {
    id: m.id === undefined ? null : memberIdHex(m.id),
    name: m.name,
    endpoint: m.endpoint,
    clientURLs: m.clientURLs,
    peerURLs: m.peerURLs,
    role: m.role,
    version: m.version ?? null,
    dbSize: str(m.dbSize),
    dbSizeInUse: str(m.dbSizeInUse),
    dbSizeQuota: m.dbSizeQuota === undefined || m.dbSizeQuota === 0n ? null : m.dbSizeQuota.toString(),
    raftTerm: str(m.raftTerm),
    raftIndex: str(m.raftIndex),
    raftAppliedIndex: str(m.raftAppliedIndex),
    revision: str(m.revision),
    leaderId: m.leaderId === undefined || m.leaderId === 0n ? null : memberIdHex(m.leaderId),
    memberErrors: m.memberErrors,
    error: m.error ?? null,
  };
}

export function clusterToJson(c: ClusterSnapshot): Record<string, unknown> {
  return {
    id: c.id,
    name: c.name,
    labels: c.labels,
    endpoints: c.endpoints,
    storageBackend: c.storageBackend,
    configErrors: c.configErrors,
    clusterId: c.members?.clusterId === undefined ? null : memberIdHex(c.members.clusterId),
    leaderId: c.members?.leaderId === undefined ? null : memberIdHex(c.members.leaderId),
    membersCheckedAt: c.members?.checkedAt.toISOString() ?? null,
    membersError: c.members?.error ?? null,
    members: (c.members?.members ?? []).map(memberToJson),
    // Every figure out of bounds, from any feature: member, cause, figure, threshold (base units).
    why: collectWhy(c),
    features: Object.fromEntries(
      Object.values(c.features).map((f) => [
        f.name,
        {
          intervalSeconds: f.intervalSeconds,
          runs: f.runs,
          failures: f.failures,
          last:
            f.last === undefined
              ? null
              : {
                  startedAt: f.last.startedAt.toISOString(),
                  durationMs: Math.round(f.last.durationMs * 10) / 10,
                  ok: f.last.ok,
                  error: f.last.error ?? null,
                  summary: f.last.summary,
                  problems: f.last.problems,
                  findings: f.last.findings ?? [],
                  details: toJsonSafe(f.last.details),
                },
        },
      ]),
    ),
  };
}

function str(v: bigint | undefined): string | null {
  return v === undefined ? null : v.toString();
}

/** Deep copy with bigint as decimal strings and Buffers as UTF-8. */
export function toJsonSafe(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toJsonSafe);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonSafe(v)]));
  }
  return value;
}
