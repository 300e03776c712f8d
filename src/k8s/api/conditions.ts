/**
 * Status conditions as apimachinery's meta.SetStatusCondition handles them:
 * lastTransitionTime moves only when the status changes. Never mutates its
 * input (cached objects are frozen); returns a new list.
 */
import { kubeTime, type Condition, type ConditionStatus } from './meta.ts';

export interface ConditionInput {
  readonly type: string;
  readonly status: ConditionStatus;
  readonly reason: string;
  readonly message: string;
  readonly observedGeneration?: number;
}

export function findCondition(
  conditions: readonly Readonly<Condition>[] | undefined,
  type: string,
): Readonly<Condition> | undefined {
  return conditions?.find((c) => c.type === type);
}

/** The list with `next` set (added or replaced in place, order kept). */
export function setCondition(
  conditions: readonly Readonly<Condition>[] | undefined,
  next: ConditionInput,
  now: Date = new Date(),
): Condition[] {
  const list = (conditions ?? []).map((c) => ({ ...c }));
  const i = list.findIndex((c) => c.type === next.type);
  const previous = i >= 0 ? list[i] : undefined;
  const lastTransitionTime =
    previous !== undefined && previous.status === next.status ? previous.lastTransitionTime : kubeTime(now);
  const condition: Condition = {
    type: next.type,
    status: next.status,
    reason: next.reason,
    message: next.message,
    lastTransitionTime,
    ...(next.observedGeneration !== undefined && { observedGeneration: next.observedGeneration }),
  };
  if (i >= 0) list[i] = condition;
  else list.push(condition);
  return list;
}

/** Whether two condition lists say the same (lastTransitionTime included), to skip needless status writes. */
export function sameConditions(
  a: readonly Readonly<Condition>[] | undefined,
  b: readonly Readonly<Condition>[] | undefined,
): boolean {
  const x = a ?? [];
  const y = b ?? [];
  if (x.length !== y.length) return false;
  return x.every((c, i) => {
    const d = y[i];
    return (
      d !== undefined &&
      c.type === d.type &&
      c.status === d.status &&
      c.reason === d.reason &&
      c.message === d.message &&
      c.lastTransitionTime === d.lastTransitionTime &&
      c.observedGeneration === d.observedGeneration
    );
  });
}
