/** Small helpers the controllers share to decide whether a status write is needed. */

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

/** Text cut to the API's limit, with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 3)}...`;
}

/** How long ago an RFC 3339 time was, in ms (Infinity when absent or unreadable). */
export function ageMs(time: string | undefined, now: Date): number {
  if (time === undefined) return Infinity;
  const at = Date.parse(time);
  return Number.isNaN(at) ? Infinity : now.getTime() - at;
}
