import { EtcdError } from './types.ts';

/**
 * The monitor's own credentials refused ("cannot authenticate as user
 * monitor: wrong user name or password"), or undefined for any other failure.
 * What such a member would have answered is unknown: paging etcd's on-call
 * for the monitor's password would be wrong.
 */
export function accessError(err: unknown): string | undefined {
  if (!(err instanceof EtcdError) || err.code !== 'auth') return undefined;
  const user = /\(user "([^"]*)"\)/.exec(err.message)?.[1];
  const what = /authentication failed|invalid user ID or password|wrong password|401/i.test(err.message)
    ? 'wrong user name or password'
    : 'access refused';
  return `cannot authenticate as user ${user ?? '(the configured user)'}: ${what}`;
}

/** The sentence for a refused call: what, where, that etcd may be fine, and what to do. */
export function accessProblem(denied: string, where: string, unknown: string): string {
  return `${denied} on ${where}: the monitor's credentials are refused, so ${unknown} is unknown (etcd itself may be fine); fix the monitor's user or password file`;
}
