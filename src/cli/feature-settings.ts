/**
 * `inspect --set FEATURE.OPTION=VALUE`: feature options given as text,
 * typed by the feature's own options schema (Feature.optionsSchema) and then
 * validated by the feature's parseOptions through FeatureRegistry.check, the
 * same validator the daemon's config file and the EtcdCluster CRD go through.
 * Nothing here decides whether a value is in range: it only turns text into
 * the JSON type the schema asks for, and names what is wrong without ever
 * echoing the value (a string option may hold a URL with credentials).
 */
import type { TSchema } from '@sinclair/typebox';
import {
  formatFeatureProblems,
  type Feature,
  type FeatureRequest,
  type FeatureSpec,
  type StorageBackend,
} from '../engine/contract.ts';
import type { FeatureRegistry } from '../features/registry.ts';
import { parseDuration } from './common.ts';
import { UsageError } from './usage.ts';

/** One `--set FEATURE.OPTION[.KEY]=VALUE`, split but not typed. */
export interface Setting {
  readonly feature: string;
  readonly option: string;
  /** The entry of a map option: `performance.metricsURLs.<member>=URL`. */
  readonly key: string | undefined;
  readonly text: string;
}

/** "quota.warningRatio", as messages name a setting (never with its value). */
export function settingName(s: Setting): string {
  return `${s.feature}.${s.option}${s.key !== undefined ? `.${s.key}` : ''}`;
}

const SHAPE = 'expected FEATURE.OPTION=VALUE, e.g. --set quota.warningRatio=0.7';

/**
 * Splits one --set argument at its first "=" (a value may hold more) and its
 * name at the first two dots (a map key, e.g. a member's host:port, may hold
 * more). Messages quote the name only, never the value.
 */
export function parseSetting(arg: string): Setting {
  const eq = arg.indexOf('=');
  if (eq === -1) throw new UsageError(`--set: ${SHAPE}`);
  const name = arg.slice(0, eq).trim();
  const text = arg.slice(eq + 1);
  const dot = name.indexOf('.');
  const feature = dot === -1 ? name : name.slice(0, dot);
  const rest = dot === -1 ? '' : name.slice(dot + 1);
  const keyDot = rest.indexOf('.');
  const option = keyDot === -1 ? rest : rest.slice(0, keyDot);
  const key = keyDot === -1 ? undefined : rest.slice(keyDot + 1);
  if (feature === '' || option === '' || key === '') throw new UsageError(`--set ${name}: ${SHAPE}`);
  return { feature, option, key, text };
}

/** What a schema node is, as far as typing text goes (TypeBox emits plain JSON Schema). */
interface SchemaNode {
  readonly type?: string;
  readonly anyOf?: readonly { readonly const?: unknown }[];
  readonly items?: SchemaNode;
  readonly patternProperties?: Readonly<Record<string, SchemaNode>>;
  readonly properties?: Readonly<Record<string, SchemaNode>>;
}

const NUMBER = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** One value of the options, typed for `schema`; undefined when the text is not of that type. */
function typed(schema: SchemaNode, option: string, text: string): unknown {
  const literals = schema.anyOf?.map((s) => s.const);
  if (literals !== undefined) return literals.includes(text) ? text : undefined;
  switch (schema.type) {
    case 'number':
    case 'integer': {
      // Options in seconds take what --timeout takes: 30, 30s, 1m30s, 500ms.
      if (/Seconds$/.test(option)) {
        const ms = parseDuration(text);
        return ms === undefined ? undefined : ms / 1000;
      }
      return NUMBER.test(text.trim()) ? Number(text) : undefined;
    }
    case 'boolean':
      if (/^(true|1|yes)$/i.test(text)) return true;
      if (/^(false|0|no)$/i.test(text)) return false;
      return undefined;
    case 'string':
      return text;
    case 'array': {
      const items = schema.items ?? {};
      const values = text
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '')
        .map((s) => typed(items, option, s));
      return values.includes(undefined) ? undefined : values;
    }
    default:
      return undefined;
  }
}

/** "a number", "one of auto, current", ...: what an option takes, for messages. */
export function expected(schema: SchemaNode, option: string): string {
  const literals = schema.anyOf?.map((s) => s.const);
  if (literals !== undefined) return `one of ${literals.join(', ')}`;
  switch (schema.type) {
    case 'number':
    case 'integer':
      if (/Seconds$/.test(option))
        return `a ${schema.type === 'integer' ? 'whole ' : ''}number of seconds or a duration (30, 30s, 5m, 500ms)`;
      return schema.type === 'integer' ? 'a whole number' : 'a number';
    case 'boolean':
      return 'true or false';
    case 'string':
      return 'a string';
    case 'array':
      return `a comma-separated list of ${expected(schema.items ?? {}, option).replace(/^an? /, '')}s`;
    default:
      return 'a value of the type in docs/configuration.md';
  }
}

/** The fields of a feature beside its options (`features.<name>` in the config), and what inspect has instead. */
const FEATURE_FIELDS: Readonly<Record<string, string>> = {
  enabled: '--features picks the features that run',
  intervalSeconds: 'inspect runs one round',
  timeoutSeconds: '--timeout is the deadline of the round',
};

function mapValueSchema(schema: SchemaNode): SchemaNode | undefined {
  if (schema.type !== 'object' || schema.patternProperties === undefined) return undefined;
  return Object.values(schema.patternProperties)[0];
}

/**
 * The options each --set gives, by feature, typed for the feature's schema
 * (the last --set of an option wins; map entries add up). Unknown features
 * and options, and text that is not of the option's type, are usage errors
 * naming the flag, the feature and the option. `find` looks a feature up
 * (FeatureRegistry.find); `known` lists the feature names for messages.
 */
export function typedSettings(
  settings: readonly Setting[],
  find: (name: string) => Feature | undefined,
  known: readonly string[],
): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  for (const s of settings) {
    const at = `--set ${settingName(s)}`;
    const feature = find(s.feature);
    if (feature === undefined)
      throw new UsageError(`${at}: unknown feature ${s.feature} (known: ${known.join(', ')})`);
    const schema = feature.optionsSchema as (TSchema & SchemaNode) | undefined;
    const properties = schema?.properties ?? {};
    const names = Object.keys(properties);
    if (names.length === 0) throw new UsageError(`${at}: feature ${s.feature} takes no options`);
    const option = Object.hasOwn(properties, s.option) ? properties[s.option] : undefined;
    const field = Object.hasOwn(FEATURE_FIELDS, s.option) ? FEATURE_FIELDS[s.option] : undefined;
    if (option === undefined && field !== undefined)
      throw new UsageError(`${at}: ${s.option} is not an option of the feature: ${field}`);
    if (option === undefined)
      throw new UsageError(
        `${at}: feature ${s.feature} has no option ${s.option} (its options: ${names.join(', ')})`,
      );
    const entry = mapValueSchema(option);
    if (entry !== undefined && s.key === undefined)
      throw new UsageError(
        `${at}: ${s.option} is a map; give one entry at a time: --set ${s.feature}.${s.option}.NAME=VALUE`,
      );
    if (entry === undefined && s.key !== undefined)
      throw new UsageError(`${at}: ${s.option} has no entries; write --set ${s.feature}.${s.option}=VALUE`);
    const valueSchema = entry ?? option;
    const value = typed(valueSchema, s.option, s.text);
    if (value === undefined)
      throw new UsageError(
        `${at}: expected ${expected(valueSchema, s.option)} (the value given is not shown)`,
      );
    const options = out.get(s.feature) ?? {};
    if (s.key !== undefined) {
      const map = options[s.option];
      options[s.option] = { ...(typeof map === 'object' && map !== null ? map : {}), [s.key]: value };
    } else {
      options[s.option] = value;
    }
    out.set(s.feature, options);
  }
  return out;
}

/**
 * A feature's message with the string values the settings gave taken out:
 * a feature may quote what it refused ("... is not a URL"), and a string
 * option may hold a secret (a metrics URL with credentials).
 */
export function withoutValues(message: string, settings: readonly Setting[]): string {
  let out = message;
  for (const s of settings) {
    const values = [s.text, ...s.text.split(',').map((v) => v.trim())].filter((v) => v !== '');
    for (const v of values) {
      for (const quoted of [`"${v}"`, JSON.stringify(v)]) out = out.split(quoted).join('(value not shown)');
      if (v.length >= 4 && !NUMBER.test(v)) out = out.split(v).join('(value not shown)');
    }
  }
  return out;
}

/** What `inspect` was asked for, feature-wise. */
export interface FeatureFlags {
  /** --features as given (undefined: not given). */
  readonly features?: string | undefined;
  /** Every --set, in order. */
  readonly set: readonly string[];
  readonly keyspaceSizes?: boolean | undefined;
  /** --timeout, in seconds: how long keyspace sizes may take. */
  readonly timeout: number;
}

/**
 * What the request round leaves of --timeout to report after waiting for
 * the key count or sizes scan: the round starts after member discovery, and
 * the whole inspection ends at --timeout (plus a second).
 */
export const KEYSPACE_REPORT_RESERVE_SECONDS = 2;

/**
 * The features one `inspect` runs and their requests: `base` (the default
 * list, or the features of a cluster of the config file, disabled ones
 * included for their options), narrowed by --features, refined by --set and
 * --keyspace-sizes. A --set turns its feature on, unless --features was
 * given and leaves it out: the list given is what runs, and the --set is
 * refused (it would otherwise be ignored without a word).
 */
export function inspectFeatureRequests(
  base: ReadonlyMap<string, FeatureRequest>,
  flags: FeatureFlags,
  registry: FeatureRegistry,
): { requests: Map<string, FeatureRequest>; settings: Setting[] } {
  const selected =
    flags.features === undefined
      ? undefined
      : flags.features
          .split(',')
          .map((s) => s.trim())
          .filter((s) => s !== '');
  if (selected?.length === 0) throw new UsageError('--features: no feature given');
  const names =
    selected ?? [...base].filter(([, request]) => request.enabled !== false).map(([name]) => name);
  // --keyspace-sizes asks for the request feature, whatever --features says.
  if (flags.keyspaceSizes === true && !names.includes('request')) names.push('request');
  const settings = flags.set.map(parseSetting);
  const given = typedSettings(settings, (name) => registry.find(name), registry.names());
  for (const feature of given.keys()) {
    if (names.includes(feature)) continue;
    if (selected !== undefined) {
      const first = settings.find((s) => s.feature === feature)!;
      throw new UsageError(
        `--set ${settingName(first)}: feature ${feature} is not in --features ${selected.join(',')}; add it there (--features ${[...selected, feature].join(',')}) or leave the --set out`,
      );
    }
    names.push(feature);
  }
  if (flags.keyspaceSizes === true) {
    if (given.get('request')?.['sizes'] === false)
      throw new UsageError('--keyspace-sizes and --set request.sizes=false contradict each other');
    given.set('request', { ...given.get('request'), sizes: true });
  }
  if (names.includes('request')) {
    // inspect has one round: the count (with sizes, the scan) runs until it
    // completes or the deadline comes, not the daemon's first-round 3 s.
    const wait = Math.max(0, flags.timeout - KEYSPACE_REPORT_RESERVE_SECONDS);
    given.set('request', { firstRoundWaitSeconds: wait, ...given.get('request') });
  }
  const requests = new Map<string, FeatureRequest>();
  for (const name of names) {
    const prior = base.get(name);
    const options = { ...prior?.options, ...given.get(name) };
    requests.set(name, {
      ...prior,
      enabled: true,
      ...(Object.keys(options).length > 0 ? { options } : {}),
    });
  }
  return { requests, settings };
}

/**
 * Each request checked by the registry (the one validator of feature
 * options) as one round of `inspect`: problems of a feature that a --set
 * touched name those --set flags, with the values given taken out.
 */
export function checkInspectFeatures(
  requests: ReadonlyMap<string, FeatureRequest>,
  settings: readonly Setting[],
  registry: FeatureRegistry,
  backend: StorageBackend,
  round: (name: string, request: FeatureRequest) => { intervalSeconds: number; timeoutSeconds: number },
): Record<string, FeatureSpec> {
  const specs: Record<string, FeatureSpec> = {};
  for (const [name, request] of requests) {
    const checked = registry.check(name, { ...request, ...round(name, request) }, backend);
    if (!checked.ok) {
      const own = settings.filter((s) => s.feature === name);
      const at = own.length > 0 ? `--set ${own.map(settingName).join(', ')}` : `--features ${name}`;
      const problems = formatFeatureProblems('', checked.problems).map((p) =>
        withoutValues(p.replace(/^(\.options)?: /, '').replace(/^\./, ''), own),
      );
      throw new UsageError(`${at}: ${problems.join('; ')}`);
    }
    if (checked.spec !== undefined) specs[name] = checked.spec;
  }
  return specs;
}
