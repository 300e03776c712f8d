/**
 * For `node --import` preload scripts (test/support/record-modules.ts,
 * bench/memory-probe.ts): which modules the process loads.
 */
import { registerHooks } from 'node:module';

/** Every module URL the process resolves from now on (the preload script's own imports were resolved before). */
export function recordResolvedModules(): ReadonlySet<string> {
  const urls = new Set<string>();
  registerHooks({
    resolve(specifier, context, next) {
      const result = next(specifier, context);
      urls.add(result.url);
      return result;
    },
  });
  return urls;
}
