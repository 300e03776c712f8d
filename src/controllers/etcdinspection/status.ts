/**
 * An EtcdInspection's .status from the engine's latest round of its feature
 * (pure). The verdict (phase, ok, problems, error) is written as soon as it
 * changes; a summary that moves every round (the request feature's rates,
 * the consistency feature's revision) is refreshed at most every refreshMs;
 * the duration of the round alone never causes a write. A steady inspection
 * costs no writes.
 */
import type { FeatureSnapshot } from '../../engine/snapshot.ts';
import {
  kubeTime,
  type EtcdInspectionStatus,
  type InspectionPhase,
  type InspectionResult,
} from '../../k8s/api/index.ts';
import type { DeepReadonly } from '../../k8s/client/index.ts';
import { clip } from '../../k8s/api/index.ts';
import { ageMs, canonical } from '../status-writes.ts';

export type InspectionState =
  /** The cluster is missing or cannot run: nothing runs. */
  | { readonly kind: 'blocked'; readonly message: string }
  /** The inspection itself cannot run (unknown type, options the feature rejects). */
  | { readonly kind: 'invalid'; readonly message: string }
  | {
      readonly kind: 'running';
      readonly feature: FeatureSnapshot | undefined;
      readonly configErrors: readonly string[];
    };

const MESSAGE_MAX = 4096;
const SUMMARY_MAX = 1024;
const MAX_PROBLEMS = 32;

function result(feature: FeatureSnapshot): InspectionResult | undefined {
  const last = feature.last;
  if (last === undefined) return undefined;
  return {
    ok: last.ok,
    summary: clip(last.summary, SUMMARY_MAX),
    ...(last.problems.length > 0 && {
      problems: last.problems.slice(0, MAX_PROBLEMS).map((p) => clip(p, 1024)),
    }),
    ...(last.error !== undefined && { error: clip(last.error, MESSAGE_MAX) }),
    durationMilliseconds: Math.round(last.durationMs),
  };
}

function verdict(state: InspectionState): {
  phase: InspectionPhase;
  message: string;
  lastResult?: InspectionResult;
  finishedAt?: Date;
} {
  switch (state.kind) {
    case 'blocked':
      return { phase: 'Blocked', message: clip(state.message, MESSAGE_MAX) };
    case 'invalid':
      return { phase: 'Error', message: clip(`invalid: ${state.message}`, MESSAGE_MAX) };
    case 'running': {
      const last = state.feature?.last;
      const lastResult = state.feature !== undefined ? result(state.feature) : undefined;
      if (last === undefined || lastResult === undefined) {
        if (state.configErrors.length > 0)
          return { phase: 'Error', message: clip(state.configErrors.join('; '), MESSAGE_MAX) };
        return { phase: 'Pending', message: 'waiting for the first round' };
      }
      const finishedAt = new Date(last.startedAt.getTime() + last.durationMs);
      if (!last.ok)
        return {
          phase: 'Error',
          message: clip(last.error ?? last.summary, MESSAGE_MAX),
          lastResult,
          finishedAt,
        };
      if (last.problems.length > 0)
        return {
          phase: 'Problems',
          message: clip(last.problems.join('; '), MESSAGE_MAX),
          lastResult,
          finishedAt,
        };
      return { phase: 'Ok', message: lastResult.summary, lastResult, finishedAt };
    }
  }
}

/** What must be written at once when it changes: everything but the summary, the duration and the times. */
function essence(s: DeepReadonly<EtcdInspectionStatus> | undefined): string {
  if (s === undefined) return '';
  const r = s.lastResult;
  return canonical({
    phase: s.phase,
    observedGeneration: s.observedGeneration,
    // For Ok the message is the summary.
    message: s.phase === 'Ok' ? undefined : s.message,
    result: r === undefined ? undefined : { ok: r.ok, problems: r.problems, error: r.error },
  });
}

/**
 * Whether a status is the verdict of a round (Ok, Problems, or Error from a
 * failed round, not from invalid options or config errors) for this generation.
 */
function roundVerdict(
  status: DeepReadonly<EtcdInspectionStatus> | undefined,
  generation: number | undefined,
): boolean {
  const r = status?.lastResult;
  if (status === undefined || r === undefined || status.observedGeneration !== generation) return false;
  switch (status.phase) {
    case 'Ok':
      return r.ok && (r.problems ?? []).length === 0;
    case 'Problems':
      return r.ok && (r.problems ?? []).length > 0;
    case 'Error':
      return !r.ok && status.message === (r.error ?? r.summary);
    default:
      return false;
  }
}

/**
 * The next status, or undefined when nothing needs writing. A new result
 * moves lastUpdatedTime to the end of its round; blocked and invalid keep
 * the last result for reference. A cluster this process has just been
 * given (a start, a hand-off from another replica) has no round yet: the
 * previous round's verdict of the same generation stays until the first
 * round here replaces it (no Pending write, then the same verdict again).
 */
export function nextInspectionStatus(
  previous: DeepReadonly<EtcdInspectionStatus> | undefined,
  generation: number | undefined,
  state: InspectionState,
  now: Date,
  refreshMs: number,
): EtcdInspectionStatus | undefined {
  const v = verdict(state);
  if (v.phase === 'Pending' && roundVerdict(previous, generation)) return undefined;
  const lastResult =
    v.lastResult ??
    (previous?.lastResult !== undefined
      ? (structuredClone(previous.lastResult) as InspectionResult)
      : undefined);
  const next: EtcdInspectionStatus = {
    phase: v.phase,
    ...(generation !== undefined && { observedGeneration: generation }),
    message: v.message,
    ...(lastResult !== undefined && { lastResult }),
  };
  const changed = essence(previous) !== essence(next);
  // The duration alone is not worth a write; a summary that moves is, now and then.
  const moved = v.lastResult !== undefined && previous?.lastResult?.summary !== v.lastResult.summary;
  if (!changed && !(moved && ageMs(previous?.lastUpdatedTime, now) >= refreshMs)) return undefined;
  const updated =
    v.finishedAt !== undefined && (changed || moved) ? kubeTime(v.finishedAt) : previous?.lastUpdatedTime;
  return { ...next, ...(updated !== undefined && { lastUpdatedTime: updated }) };
}

/**
 * How long to put off writing Pending for a new inspection that has no
 * status and no result yet (its first round usually ends within seconds:
 * one write instead of two), or undefined to write now.
 */
export function pendingDeferral(
  previous: DeepReadonly<EtcdInspectionStatus> | undefined,
  state: InspectionState,
  createdAt: string | undefined,
  now: Date,
  graceMs: number,
): number | undefined {
  const waiting =
    previous === undefined &&
    state.kind === 'running' &&
    state.feature?.last === undefined &&
    state.configErrors.length === 0;
  const age = Math.max(0, ageMs(createdAt, now));
  return waiting && age < graceMs ? graceMs - age : undefined;
}
