import {
  formatFeatureProblems,
  type Feature,
  type FeatureSpec,
  type FeatureCheck,
  type FeatureProblem,
  type FeatureRequest,
  type StorageBackend,
} from '../engine/contract.ts';
import { errorMessage } from '../errors.ts';
import { Registry } from '../registry.ts';

/**
 * Features register a factory by name; the registry builds each feature at
 * most once and hands out that instance from then on. It is also the one
 * validator of a feature request: every adapter (config loader, `inspect`,
 * the Kubernetes controllers) calls check() and hands the engine its result.
 */
export class FeatureRegistry extends Registry<Feature> {
  constructor() {
    super('feature', (feature) => feature.name);
  }

  /**
   * Checks a feature request for a cluster on `backend`: the name, the
   * interval and timeout, the options (parsed here, once: the engine runs
   * the result as it is) and, when enabled, that the feature supports the
   * backend. Problems name the field, relative to the feature.
   */
  check(name: string, request: FeatureRequest, backend: StorageBackend): FeatureCheck {
    const feature = this.find(name);
    if (feature === undefined) return { ok: false, problems: [{ field: '', message: this.unknown(name) }] };
    const problems: FeatureProblem[] = [];
    const enabled = request.enabled ?? true;
    if (enabled && !feature.backends.includes(backend)) {
      problems.push({
        field: '',
        message: `feature ${name} does not support the ${backend} storage backend (supported: ${feature.backends.join(', ')})`,
      });
    }
    for (const field of ['intervalSeconds', 'timeoutSeconds'] as const) {
      const seconds = request[field];
      if (seconds !== undefined && !(Number.isFinite(seconds) && seconds > 0))
        problems.push({ field, message: `must be a number of seconds > 0, got ${seconds}` });
    }
    let options: unknown;
    try {
      options = feature.parseOptions(request.options);
    } catch (err) {
      // OptionsError names the field; anything else is reported the same way rather than thrown at the adapter.
      problems.push({ field: 'options', message: errorMessage(err) });
    }
    if (problems.length > 0) return { ok: false, problems };
    if (!enabled) return { ok: true, spec: undefined };
    return {
      ok: true,
      spec: {
        feature,
        intervalSeconds: request.intervalSeconds ?? feature.defaultIntervalSeconds,
        ...(request.timeoutSeconds !== undefined && { timeoutSeconds: request.timeoutSeconds }),
        options,
      },
    };
  }

  /**
   * check() for requests that are not user input (the demo, tests,
   * benchmarks): the spec of the enabled feature, or an Error naming the problems.
   */
  enable(name: string, request: Omit<FeatureRequest, 'enabled'>, backend: StorageBackend): FeatureSpec {
    const checked = this.check(name, request, backend);
    if (!checked.ok) throw new Error(formatFeatureProblems(`feature ${name}`, checked.problems).join('; '));
    if (checked.spec === undefined) throw new Error(`feature ${name} is not enabled`);
    return checked.spec;
  }
}

/** The process-wide registry that the built-in features register into (src/features/index.ts). */
export const featureRegistry = new FeatureRegistry();
