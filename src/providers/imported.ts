/**
 * The `imported` provider: a cluster that already runs somewhere, reached at
 * its endpoints. Nothing is created or deleted; its state is the engine's
 * membership read (MemberList, then every member's Status).
 */
import { digest } from '../engine/cluster-spec.ts';
import type { ClusterSnapshot, MemberSnapshot } from '../engine/snapshot.ts';
import { memberIdHex } from '../etcd/types.ts';
import { clip, type MemberStatus } from '../k8s/api/index.ts';
import type { ClusterProvider, ProviderCluster, ProviderStatus } from './provider.ts';

const MAX_MEMBERS = 64;
const MAX_ERRORS = 16;
const MAX_TEXT = 1024;

/** Answered its Status call and reports no errors of its own (e.g. a NOSPACE alarm). */
export function memberHealthy(m: MemberSnapshot): boolean {
  return m.error === undefined && m.version !== undefined && m.memberErrors.length === 0;
}

export function memberStatus(m: MemberSnapshot & { readonly id: bigint }): MemberStatus {
  const errors = [...(m.error !== undefined ? [m.error] : []), ...m.memberErrors]
    .slice(0, MAX_ERRORS)
    .map((e) => clip(e, MAX_TEXT));
  return {
    id: memberIdHex(m.id),
    name: m.name,
    ...(m.endpoint !== '' && { endpoint: m.endpoint }),
    clientURLs: m.clientURLs.slice(0, 16),
    ...(m.version !== undefined && { version: m.version }),
    role: m.role,
    healthy: memberHealthy(m),
    ...(m.dbSize !== undefined && { dbSize: Number(m.dbSize) }),
    ...(errors.length > 0 && { errors }),
  };
}

/** Orders "3.5.9" before "3.5.10"; text that is not a version sorts last. */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = pa[i] ?? 0;
    const y = pb[i] ?? 0;
    if (Number.isNaN(x) || Number.isNaN(y)) return a.localeCompare(b);
    if (x !== y) return x - y;
  }
  return 0;
}

/** The cluster's version: the lowest member version (what the cluster runs at during a rolling upgrade). */
function clusterVersion(members: readonly MemberSnapshot[]): string | undefined {
  const versions = members.map((m) => m.version).filter((v): v is string => v !== undefined && v !== '');
  return versions.sort(compareVersions)[0];
}

export function importedStatus(snapshot: ClusterSnapshot | undefined): ProviderStatus {
  const read = snapshot?.members;
  if (read === undefined) {
    return {
      phase: 'Pending',
      members: [],
      membersReady: undefined,
      leader: undefined,
      version: undefined,
      ready: { status: 'Unknown', reason: 'Discovering', message: 'waiting for the first membership read' },
      membersHealth: {
        status: 'Unknown',
        reason: 'Pending',
        message: 'waiting for the first membership read',
      },
      checkedAt: undefined,
    };
  }
  const known = read.members
    .filter((m): m is MemberSnapshot & { readonly id: bigint } => m.id !== undefined)
    .sort((a, b) => a.name.localeCompare(b.name) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .slice(0, MAX_MEMBERS);
  const healthy = known.filter(memberHealthy);
  const leaderMember = read.leaderId === undefined ? undefined : known.find((m) => m.id === read.leaderId);
  const leader =
    leaderMember === undefined
      ? undefined
      : leaderMember.name !== ''
        ? leaderMember.name
        : memberIdHex(leaderMember.id);
  const unhealthy = known
    .filter((m) => !memberHealthy(m))
    .map(
      (m) =>
        `${m.name || memberIdHex(m.id)}: ${[m.error, ...m.memberErrors].filter((e) => e !== undefined).join('; ') || 'no status'}`,
    );

  const phase =
    read.error !== undefined || known.length === 0 || healthy.length === 0
      ? 'Unavailable'
      : healthy.length === known.length
        ? 'Running'
        : 'Degraded';
  const ready =
    read.error === undefined
      ? {
          status: 'True' as const,
          reason: 'MembersDiscovered',
          message: `${known.length} member(s)${leader !== undefined ? `, leader ${leader}` : ', no leader'}`,
        }
      : { status: 'False' as const, reason: 'MembershipUnavailable', message: clip(read.error, 4096) };
  const membersHealth =
    known.length === 0
      ? { status: 'Unknown' as const, reason: 'NoMembers', message: 'no member is known' }
      : unhealthy.length === 0
        ? {
            status: 'True' as const,
            reason: 'Healthy',
            message: `${healthy.length}/${known.length} members healthy`,
          }
        : {
            status: 'False' as const,
            reason: 'Unhealthy',
            message: clip(`${healthy.length}/${known.length} members healthy; ${unhealthy.join('; ')}`, 4096),
          };
  return {
    phase,
    members: known.map(memberStatus),
    membersReady: known.length === 0 ? undefined : `${healthy.length}/${known.length}`,
    leader,
    version: clusterVersion(known),
    ready,
    membersHealth,
    checkedAt: read.checkedAt,
  };
}

export class ImportedProvider implements ClusterProvider {
  readonly type = 'imported';
  readonly createdReason = 'Imported';

  /** Same endpoints, backend and credentials (Secrets compared by hash) and the same membership schedule. */
  equal(a: ProviderCluster, b: ProviderCluster): boolean {
    return a.cluster.clusterType === b.cluster.clusterType && digest(a.spec) === digest(b.spec);
  }

  status(_cluster: ProviderCluster, snapshot: ClusterSnapshot | undefined): ProviderStatus {
    return importedStatus(snapshot);
  }
}
