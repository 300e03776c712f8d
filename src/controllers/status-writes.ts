/**
 * What the controllers use to decide whether a status write is needed: a
 * status compared by content (not key order), and the age of a timestamp
 * that is refreshed at most every so often.
 */

/**
 * JSON with object keys sorted at every level, for comparing a status we
 * computed with the one read from the API (the apiserver returns custom
 * resources with sorted keys, we build them in our own order). undefined
 * fields are left out, as JSON does.
 */
export function canonical(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** How long ago an RFC 3339 time was, in ms (Infinity when absent or unreadable). */
export function ageMs(time: string | undefined, now: Date): number {
  if (time === undefined) return Infinity;
  const at = Date.parse(time);
  return Number.isNaN(at) ? Infinity : now.getTime() - at;
}
