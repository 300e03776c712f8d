import { readFile, stat } from 'node:fs/promises';
import { checkProbeListen, parseListen } from '../server/listen.ts';
import { isMap, isPair, isSeq, parseDocument } from 'yaml';
import { parseEndpoint, type Endpoint } from '../etcd/endpoint.ts';
import { loadTlsMaterial } from '../etcd/tls.ts';
import type { AuthCredentials, ClientOptions, TlsMaterial } from '../etcd/types.ts';
import { errorMessage, yamlErrorText } from '../errors.ts';
import { clusterLabelProblem, ENGINE_METRICS, type MetricDefinition } from '../metrics/catalogue.ts';
import type { FeatureRegistry } from '../features/registry.ts';
import { metricPrefixProblem } from '../metrics/catalogue.ts';
import { validate, ValidationError } from '../schema.ts';
import { formatFeatureProblems, type FeatureSpec, type StorageBackend } from '../engine/contract.ts';
import type { ClusterSpec } from '../engine/cluster-spec.ts';
import { DEFAULT_FEATURES } from '../features/defaults.ts';
import { readPasswordFile } from './password-file.ts';
import { MonitorConfig, type ClusterConfig, type FeatureConfig } from './file-schema.ts';

export { readPasswordFile };

export { DEFAULT_FEATURES };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface LoadedConfig {
  readonly file: string;
  readonly listen?: string;
  /** The probe listener's address (`probeListen:`), if any. */
  readonly probeListen?: string;
  readonly metricPrefix?: string;
  /** This daemon's part of the clusters (`sharding:`); the loader returns every cluster regardless. */
  readonly sharding?: { readonly shard: number; readonly totalShards: number };
  readonly clusters: readonly ClusterSpec[];
  /**
   * Per cluster name, the feature requests its specs were checked from (the
   * cluster's over the defaults, disabled ones included), for adapters that
   * refine them (`inspect --config --cluster` with --features and --set).
   */
  readonly featureConfigs: ReadonlyMap<string, ReadonlyMap<string, FeatureConfig>>;
}

/**
 * Reads, validates and resolves a standalone config file: unknown fields,
 * bad values, unreadable certificate or password files are all errors that
 * name the file and the field. Nothing partial is returned.
 */
export async function loadConfigFile(file: string, registry: FeatureRegistry): Promise<LoadedConfig> {
  let text: string;
  try {
    const size = (await stat(file)).size;
    if (size > CONFIG_LIMITS.bytes)
      throw new ConfigError(
        `config ${file}: ${size} bytes, more than the limit of ${CONFIG_LIMITS.bytes} bytes (${CONFIG_LIMITS.bytes / 1024 / 1024} MiB)`,
      );
    text = await readFile(file, 'utf8');
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`config ${file}: cannot read: ${errorMessage(err)}`);
  }
  return parseConfig(text, file, registry);
}

/**
 * Documented bounds on a config file (docs/configuration.md): input beyond
 * them is refused at once, naming the file, before it can cost minutes of
 * CPU, gigabytes of memory or the stack.
 */
export const CONFIG_LIMITS = {
  bytes: 16 * 1024 * 1024,
  clusters: 10_000,
  /** Nested mappings and sequences; a real config needs about 6. */
  depth: 64,
  /** YAML alias expansions (billion-laughs files). */
  aliases: 100,
} as const;

/**
 * The path of a "__proto__" key anywhere in the parsed file: such a key is
 * dropped silently by object copies further on (a feature "__proto__" would
 * vanish), so it is refused before.
 */
function reservedKeyPath(root: unknown): string | undefined {
  const stack: [unknown, string][] = [[root, '']];
  while (stack.length > 0) {
    const [node, path] = stack.pop()!;
    if (typeof node !== 'object' || node === null) continue;
    if (Array.isArray(node)) {
      node.forEach((item, i) => stack.push([item, `${path}[${i}]`]));
      continue;
    }
    if (Object.hasOwn(node, '__proto__')) return path === '' ? '__proto__' : `${path}.__proto__`;
    for (const [key, value] of Object.entries(node))
      stack.push([value, path === '' ? key : `${path}.${key}`]);
  }
  return undefined;
}

/** The deepest nesting of collections in the document, walked without recursion. */
function nestingDepth(root: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop()!;
    if (isMap(node) || isSeq(node)) {
      if (depth > max) max = depth;
      if (depth > CONFIG_LIMITS.depth) return depth;
      for (const item of node.items) {
        if (isPair(item)) stack.push([item.value, depth + 1]);
        else stack.push([item, depth + 1]);
      }
    }
  }
  return max;
}

export async function parseConfig(
  text: string,
  file: string,
  registry: FeatureRegistry,
): Promise<LoadedConfig> {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const where =
      e.linePos?.[0] !== undefined ? ` (line ${e.linePos[0].line}, column ${e.linePos[0].col})` : '';
    // The parser recurses per level: a very deep file exhausts the stack inside it.
    if (/call stack/i.test(e.message))
      throw new ConfigError(`config ${file}: nested deeper than ${CONFIG_LIMITS.depth} levels${where}`);
    throw new ConfigError(`config ${file}: invalid YAML ${yamlErrorText(e)}`);
  }
  if (nestingDepth(doc.contents) > CONFIG_LIMITS.depth)
    throw new ConfigError(`config ${file}: nested deeper than ${CONFIG_LIMITS.depth} levels`);
  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: CONFIG_LIMITS.aliases });
  } catch (err) {
    // The yaml library's own wording ("resource exhaustion attack") is not for people.
    if (err instanceof ReferenceError || /alias/i.test(errorMessage(err)))
      throw new ConfigError(
        `config ${file}: YAML aliases expand too much (more than ${CONFIG_LIMITS.aliases} expansions of an alias)`,
      );
    throw new ConfigError(`config ${file}: cannot be read as YAML: ${errorMessage(err)}`);
  }
  const clusterCount =
    typeof raw === 'object' && raw !== null && 'clusters' in raw && Array.isArray(raw.clusters)
      ? raw.clusters.length
      : 0;
  if (clusterCount > CONFIG_LIMITS.clusters)
    throw new ConfigError(
      `config ${file}: ${clusterCount} clusters, more than the limit of ${CONFIG_LIMITS.clusters} per monitor (split them over several monitors)`,
    );
  const reserved = reservedKeyPath(raw);
  if (reserved !== undefined)
    throw new ConfigError(`config ${file}: ${reserved}: "__proto__" is not a field or feature name`);
  let config: MonitorConfig;
  try {
    config = validate(MonitorConfig, raw ?? {}, `config ${file}`);
  } catch (err) {
    if (err instanceof ValidationError) throw new ConfigError(err.message);
    throw err;
  }

  const problems: string[] = [];
  const prefixProblem = metricPrefixProblem(config.metricPrefix ?? '');
  if (prefixProblem !== undefined) problems.push(`metricPrefix: ${prefixProblem}`);
  let listensParse = true;
  for (const [value, field] of [
    [config.listen, 'listen:'],
    [config.probeListen, 'probeListen:'],
  ] as const) {
    if (value === undefined) continue;
    try {
      parseListen(value, field);
    } catch (err) {
      problems.push(errorMessage(err));
      listensParse = false;
    }
  }
  if (config.listen !== undefined && config.probeListen !== undefined && listensParse) {
    try {
      checkProbeListen(config.listen, config.probeListen, { listen: 'listen:', probeListen: 'probeListen:' });
    } catch (err) {
      problems.push(errorMessage(err));
    }
  }
  if (config.sharding !== undefined && config.sharding.shard >= config.sharding.totalShards)
    problems.push(
      `sharding.shard: ${config.sharding.shard} is not a shard of ${config.sharding.totalShards} (use 0 to ${config.sharding.totalShards - 1})`,
    );
  const names = new Set<string>();
  const clusters: ClusterSpec[] = [];
  const featureConfigs = new Map<string, ReadonlyMap<string, FeatureConfig>>();
  for (const [i, cluster] of config.clusters.entries()) {
    const at = `clusters[${i}]`;
    if (names.has(cluster.name)) problems.push(`${at}.name: duplicate cluster name "${cluster.name}"`);
    names.add(cluster.name);
    featureConfigs.set(cluster.name, mergeFeatureConfigs(cluster.features, config.defaults?.features));
    try {
      clusters.push(await resolveCluster(cluster, config, registry, at));
    } catch (err) {
      problems.push(...(err instanceof ValidationError ? err.problems : [errorMessage(err)]));
    }
  }
  if (problems.length > 0) throw new ConfigError(`config ${file}: ${problems.join('; ')}`);
  return {
    file,
    ...(config.listen !== undefined && { listen: config.listen }),
    ...(config.probeListen !== undefined && { probeListen: config.probeListen }),
    ...(config.metricPrefix !== undefined && { metricPrefix: config.metricPrefix }),
    ...(config.sharding !== undefined && { sharding: config.sharding }),
    clusters,
    featureConfigs,
  };
}

async function resolveCluster(
  cluster: ClusterConfig,
  config: MonitorConfig,
  registry: FeatureRegistry,
  at: string,
): Promise<ClusterSpec> {
  const problems: string[] = [];
  const endpoints: Endpoint[] = [];
  for (const [j, raw] of cluster.endpoints.entries()) {
    try {
      endpoints.push(parseEndpoint(raw));
    } catch (err) {
      problems.push(`${at}.endpoints[${j}]: ${errorMessage(err)}`);
    }
  }
  const labels = { ...config.defaults?.labels, ...cluster.labels };
  for (const name of Object.keys(labels)) {
    const problem = clusterLabelProblem(name, metricDefinitions(registry));
    if (problem !== undefined) problems.push(`${at}.labels.${name}: ${problem}`);
  }
  const features = resolveFeatureSpecs(
    cluster.features,
    config.defaults?.features,
    registry,
    cluster.storageBackend,
    `${at}.features`,
    problems,
  );

  let tls: TlsMaterial | undefined;
  if (cluster.tls !== undefined) {
    // TLS settings on plain-HTTP endpoints would be ignored without a word.
    for (const [j, e] of endpoints.entries())
      if (e.scheme === 'http')
        problems.push(
          `${at}.tls: given, but ${at}.endpoints[${j}] (${e.url}) is http://: write https:// endpoints or remove tls`,
        );
  }
  if (cluster.tls !== undefined) {
    try {
      tls = await loadTlsMaterial(cluster.tls);
    } catch (err) {
      problems.push(`${at}.tls: ${errorMessage(err)}`);
    }
  }
  let auth: AuthCredentials | undefined;
  if (cluster.auth !== undefined) {
    try {
      auth = { username: cluster.auth.username, password: await readPasswordFile(cluster.auth.passwordFile) };
    } catch (err) {
      problems.push(`${at}.auth.passwordFile: ${errorMessage(err)}`);
    }
  }
  if (problems.length > 0) throw new ValidationError(at, problems);

  const client: ClientOptions = {
    dialTimeoutMs: (cluster.dialTimeoutSeconds ?? config.defaults?.dialTimeoutSeconds ?? 5) * 1000,
    requestTimeoutMs: (cluster.requestTimeoutSeconds ?? config.defaults?.requestTimeoutSeconds ?? 5) * 1000,
    ...(tls !== undefined ? { tls } : {}),
    ...(auth !== undefined ? { auth } : {}),
  };
  return {
    id: cluster.name,
    name: cluster.name,
    labels,
    endpoints,
    storageBackend: cluster.storageBackend,
    discoverMembers: cluster.discoverMembers,
    client,
    features,
  };
}

/**
 * The cluster's enabled features over the defaults (a cluster lists only
 * what it changes), each checked by the registry for the cluster's backend;
 * problems are reported with their path.
 */
export function resolveFeatureSpecs(
  configured: Readonly<Record<string, FeatureConfig>> | undefined,
  defaults: Readonly<Record<string, FeatureConfig>> | undefined,
  registry: FeatureRegistry,
  backend: StorageBackend,
  at: string,
  problems: string[],
): Record<string, FeatureSpec> {
  const specs: Record<string, FeatureSpec> = {};
  for (const [name, feature] of mergeFeatureConfigs(configured, defaults)) {
    const checked = registry.check(name, feature, backend);
    if (!checked.ok) problems.push(...formatFeatureProblems(`${at}.${name}`, checked.problems));
    else if (checked.spec !== undefined) specs[name] = checked.spec;
  }
  return specs;
}

/** A cluster's feature requests over the defaults (the built-in default set when there are none). */
export function mergeFeatureConfigs(
  configured: Readonly<Record<string, FeatureConfig>> | undefined,
  defaults: Readonly<Record<string, FeatureConfig>> | undefined,
): Map<string, FeatureConfig> {
  const base: Record<string, FeatureConfig> =
    defaults ?? Object.fromEntries(DEFAULT_FEATURES.map((n) => [n, { enabled: true }]));
  // A Map, not an object: a feature named "__proto__" must reach the check
  // (and be refused as unknown), not silently set a prototype.
  const merged = new Map<string, FeatureConfig>(Object.entries(base));
  for (const [name, feature] of Object.entries(configured ?? {}))
    merged.set(name, { ...(Object.hasOwn(base, name) ? base[name] : undefined), ...feature });
  return merged;
}

/** Every metric family this process exports: the engine's and the features'. */
function metricDefinitions(registry: FeatureRegistry): MetricDefinition[] {
  return [...Object.values(ENGINE_METRICS), ...registry.list().flatMap((f) => f.metrics)];
}
