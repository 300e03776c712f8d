import { errorMessage } from '../errors.ts';
import type { MemberHandle } from '../engine/contract.ts';
import type { Endpoint } from '../etcd/endpoint.ts';

/** A member's answer to one check of a fan-out: its result, or why there is none. */
export type PerMember<T> = {
  readonly member: MemberHandle;
  readonly durationMs: number;
} & (
  | { readonly result: T; readonly error?: undefined }
  | { readonly result?: undefined; readonly error: string }
);

/**
 * Runs a check on every member at once. One slow or dead member costs its
 * own deadline (each call carries one), never the others' time; every
 * failure stays attributed to its member. A member without a client URL is
 * not asked.
 */
export async function forEachMember<T>(
  members: readonly MemberHandle[],
  check: (member: MemberHandle & { readonly endpoint: Endpoint }) => Promise<T>,
): Promise<PerMember<T>[]> {
  return Promise.all(
    members.map(async (member): Promise<PerMember<T>> => {
      const t0 = performance.now();
      if (!hasEndpoint(member)) return { member, error: 'member has no client URL', durationMs: 0 };
      try {
        const result = await check(member);
        return { member, result, durationMs: performance.now() - t0 };
      } catch (err) {
        return { member, error: errorMessage(err), durationMs: performance.now() - t0 };
      }
    }),
  );
}

function hasEndpoint(member: MemberHandle): member is MemberHandle & { readonly endpoint: Endpoint } {
  return member.endpoint !== undefined;
}

/** Members ordered so that the ones that answered last time (leader first) are asked first. */
export function preferResponsive(members: readonly MemberHandle[]): MemberHandle[] {
  const rank = (m: MemberHandle): number =>
    m.endpoint === undefined ? 3 : m.snapshot.error !== undefined ? 2 : m.snapshot.role === 'leader' ? 0 : 1;
  return [...members].sort((a, b) => rank(a) - rank(b));
}

/** Asks members one after another until one answers: one RPC per round when the cluster is healthy. */
export async function firstMemberAnswer<T>(
  members: readonly MemberHandle[],
  call: string,
  ask: (member: MemberHandle) => Promise<T>,
  signal: AbortSignal,
): Promise<{ member: MemberHandle; result: T }> {
  const errors: string[] = [];
  for (const member of preferResponsive(members)) {
    if (member.endpoint === undefined) continue;
    signal.throwIfAborted();
    try {
      return { member, result: await ask(member) };
    } catch (err) {
      errors.push(errorMessage(err));
    }
  }
  throw new Error(
    errors.length === 0 ? `no member to ask for ${call}` : `no member answered ${call}: ${errors.join('; ')}`,
  );
}
