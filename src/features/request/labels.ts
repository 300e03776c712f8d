/**
 * Key -> labels of the request feature: the Kubernetes key layout, and a cap
 * on distinct resource names so that any keyspace gives a bounded label set.
 */

/** resourceName of the keys whose resource name came after the cap was reached. */
export const OVERFLOW_RESOURCE = 'other';
/** resourceName of the keys outside the layout `/<prefix>/<resource>/<name...>` (e.g. `/registry/foo`). */
export const UNKNOWN_RESOURCE = 'unknown';

export const DEFAULT_MAX_RESOURCE_NAMES = 200;

const SLASH = 0x2f;
const DOT = 0x2e;

/**
 * The resource name of a key, read from byte `offset` on (just after
 * `/<etcdPrefix>/`). Kubernetes layout:
 *  - `<resource>/<name>` and `<resource>/<namespace>/<name>` give `<resource>`;
 *  - `<group>/<resource>/...` where the group has a dot (custom resources,
 *    aggregated APIs) gives `<resource>.<group>`.
 * undefined for a key outside the layout (no name segment, or an empty
 * resource segment).
 */
export function resourceOf(key: Buffer, offset: number): string | undefined {
  const r0End = key.indexOf(SLASH, offset);
  if (r0End === -1 || r0End === offset) return undefined;
  const r0 = key.toString('utf8', offset, r0End);
  const dot = key.indexOf(DOT, offset);
  if (dot !== -1 && dot < r0End) {
    const r1End = key.indexOf(SLASH, r0End + 1);
    if (r1End !== -1 && r1End > r0End + 1) return `${key.toString('utf8', r0End + 1, r1End)}.${r0}`;
  }
  return r0;
}

/** One label set: an etcdPrefix and a resourceName. Identity matters (used as a map key). */
export interface LabelSlot {
  readonly etcdPrefix: string;
  readonly resourceName: string;
}

/**
 * Hands out one LabelSlot per (etcdPrefix, resourceName), admitting at most
 * `maxResourceNames` distinct resource names (per session, all prefixes
 * together); names seen after that go to `other`. The mapping of a name
 * never changes for the life of the labeler (admitted names stay admitted,
 * refused ones stay refused), so a key created under one label is deleted
 * under the same label. Memory is bounded by the cap: refused names are not
 * remembered.
 */
export class ResourceLabeler {
  readonly maxResourceNames: number;
  readonly #slots = new Map<string, LabelSlot>();
  #admitted = 0;
  #overflowed = false;

  constructor(maxResourceNames: number = DEFAULT_MAX_RESOURCE_NAMES) {
    if (!Number.isSafeInteger(maxResourceNames) || maxResourceNames < 1)
      throw new Error(`maxResourceNames must be a positive integer, got ${maxResourceNames}`);
    this.maxResourceNames = maxResourceNames;
  }

  /** The slot of a key under `/<etcdPrefix>/`; `offset` is the byte length of `/<etcdPrefix>/`. */
  slotFor(etcdPrefix: string, key: Buffer, offset: number): LabelSlot {
    const resource = resourceOf(key, offset);
    return resource === undefined
      ? this.#fixed(etcdPrefix, UNKNOWN_RESOURCE)
      : this.slot(etcdPrefix, resource);
  }

  /** The slot of a resource name, admitting it if there is room. */
  slot(etcdPrefix: string, resourceName: string): LabelSlot {
    const id = slotId(etcdPrefix, resourceName);
    const known = this.#slots.get(id);
    if (known !== undefined) return known;
    if (this.#admitted >= this.maxResourceNames) {
      this.#overflowed = true;
      return this.#fixed(etcdPrefix, OVERFLOW_RESOURCE);
    }
    this.#admitted++;
    const slot: LabelSlot = { etcdPrefix, resourceName };
    this.#slots.set(id, slot);
    return slot;
  }

  /** Every slot handed out so far (what the metrics export). */
  slots(): LabelSlot[] {
    return [...this.#slots.values()];
  }

  /** Distinct resource names admitted (the fixed `other` and `unknown` not included). */
  get admitted(): number {
    return this.#admitted;
  }

  /** Whether some resource name was refused and counted as `other`. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /** The fixed values share the map with real names, so a resource really named "other" joins the same series. */
  #fixed(etcdPrefix: string, resourceName: string): LabelSlot {
    const id = slotId(etcdPrefix, resourceName);
    let slot = this.#slots.get(id);
    if (slot === undefined) {
      slot = { etcdPrefix, resourceName };
      this.#slots.set(id, slot);
    }
    return slot;
  }
}

function slotId(etcdPrefix: string, resourceName: string): string {
  // A segment never contains '/', so this cannot collide.
  return `${etcdPrefix}/${resourceName}`;
}
