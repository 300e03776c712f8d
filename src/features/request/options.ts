import { Type } from '@sinclair/typebox';
import { OptionsError } from '../../engine/contract.ts';
import { parseOptions } from '../options.ts';
import { DEFAULT_MAX_RESOURCE_NAMES } from './labels.ts';

export const DEFAULT_PREFIXES = ['/registry'] as const;
export const DEFAULT_COUNT_PAGE_SIZE = 1000;
export const DEFAULT_TOP_KEYS = 20;
/** 8 MiB/s: a 2 GiB keyspace in about 4 minutes, within the 5 minutes between Kubernetes' compactions. */
export const DEFAULT_SCAN_BYTES_PER_SECOND = 8 * 1024 * 1024;

export const RequestOptionsSchema = Type.Object(
  {
    prefixes: Type.Array(Type.String({ minLength: 1 }), {
      minItems: 1,
      maxItems: 16,
      default: [...DEFAULT_PREFIXES],
      description: 'Key prefixes to count and watch; each is a "directory" (a trailing "/" is implied).',
    }),
    maxResourceNames: Type.Integer({
      minimum: 1,
      maximum: 10_000,
      default: DEFAULT_MAX_RESOURCE_NAMES,
      description: 'Distinct resourceName label values; names seen after that count as "other".',
    }),
    countPageSize: Type.Integer({
      minimum: 1,
      maximum: 100_000,
      default: DEFAULT_COUNT_PAGE_SIZE,
      description: 'Keys per range request of the (re-)count.',
    }),
    sizes: Type.Boolean({
      default: false,
      description:
        'Also keep keyspace sizes: bytes per resource, the largest objects, the top keys. The (re-)count then reads values (paced by scanBytesPerSecond) and the watch asks for previous values.',
    }),
    topKeys: Type.Integer({
      minimum: 1,
      maximum: 1000,
      default: DEFAULT_TOP_KEYS,
      description: 'The largest keys reported (with sizes).',
    }),
    scanBytesPerSecond: Type.Integer({
      minimum: 64 * 1024,
      default: DEFAULT_SCAN_BYTES_PER_SECOND,
      description: 'Pace of a sizes scan, in bytes of keys and values read per second.',
    }),
    firstRoundWaitSeconds: Type.Number({
      minimum: 0,
      maximum: 86_400,
      default: 3,
      description:
        'How long the first round waits for the initial count (with sizes: the whole scan) before reporting it in progress; the round deadline ends the wait too. `inspect` (one round) waits until its --timeout.',
    }),
    sizeRescanMinIntervalSeconds: Type.Integer({
      minimum: 0,
      maximum: 86_400,
      default: 600,
      description:
        'Least time between two sizes re-scans asked for because the kept largest keys ran out (deletes and shrinks of top keys).',
    }),
  },
  { additionalProperties: false },
);

export interface RequestOptions {
  /** Normalised: each ends with "/", no two overlap. */
  readonly prefixes: readonly string[];
  readonly maxResourceNames: number;
  readonly countPageSize: number;
  /** How long the first round waits for the initial count (option firstRoundWaitSeconds). */
  readonly firstRoundWaitMs: number;
  /** undefined: sizes not kept. */
  readonly sizes: SizeOptions | undefined;
}

export interface SizeOptions {
  readonly topKeys: number;
  readonly scanBytesPerSecond: number;
  readonly rescanMinIntervalSeconds: number;
}

const WHERE = 'options of feature request';

/** Validates, defaults and normalises; rejects prefixes that would count a key twice. */
export function parseRequestOptions(raw: unknown): RequestOptions {
  const parsed = parseOptions('request', RequestOptionsSchema, raw);
  const prefixes: string[] = [];
  parsed.prefixes.forEach((prefix, i) => {
    if (!prefix.startsWith('/') || prefix.split('/').every((s) => s === '')) {
      throw new OptionsError(
        `${WHERE}: prefixes[${i}]: "${prefix}" must start with "/" and name a first segment, e.g. "/registry"`,
      );
    }
    const normalised = prefix.endsWith('/') ? prefix : `${prefix}/`;
    // "//registry" would give keys that the first-segment rule cannot label.
    if (normalised.startsWith('//'))
      throw new OptionsError(`${WHERE}: prefixes[${i}]: "${prefix}" starts with an empty segment`);
    const j = prefixes.findIndex((p) => p.startsWith(normalised) || normalised.startsWith(p));
    if (j !== -1) {
      throw new OptionsError(
        `${WHERE}: prefixes[${i}]: "${prefix}" overlaps prefixes[${j}] "${parsed.prefixes[j]}" (a key would be counted twice)`,
      );
    }
    prefixes.push(normalised);
  });
  return {
    prefixes,
    maxResourceNames: parsed.maxResourceNames,
    countPageSize: parsed.countPageSize,
    firstRoundWaitMs: parsed.firstRoundWaitSeconds * 1000,
    sizes: parsed.sizes
      ? {
          topKeys: parsed.topKeys,
          scanBytesPerSecond: parsed.scanBytesPerSecond,
          rescanMinIntervalSeconds: parsed.sizeRescanMinIntervalSeconds,
        }
      : undefined,
  };
}
