/**
 * Pure validation of EtcdCluster and EtcdInspection objects: everything the
 * CRD schema checks at admission (again, for objects stored before a schema
 * change) plus what it cannot know (endpoints that parse, features the
 * operator runs, kstone annotations). The controllers call it on cached
 * objects and turn problems into a condition and an Event, never a crash.
 */
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { parseEndpoint, type Endpoint } from '../../etcd/endpoint.ts';
import { formatPath } from '../../schema.ts';
import {
  ANNOTATION_CERT_NAME,
  ANNOTATION_FEATURE_GATES,
  AUTH_DEFAULT_KEYS,
  CLUSTER_TYPES,
  DEFAULT_FEATURES,
  EtcdCluster,
  KNOWN_FEATURES,
  type ClusterType,
} from './etcdcluster.ts';
import { DEFAULT_INSPECTION_PROVIDER, EtcdInspection } from './etcdinspection.ts';
import { parseCertName, parseFeatureGates } from './kstone.ts';
import { errorMessage } from '../../errors.ts';

/** One thing wrong with an object: the field (e.g. spec.endpoints[1]) and why. */
export interface Problem {
  readonly field: string;
  readonly message: string;
}

export type Validated<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly problems: readonly Problem[] };

/** "spec.endpoints[1]: endpoint ... has no port; metadata.annotations.featureGates: ..." */
export function formatProblems(problems: readonly Problem[]): string {
  return problems.map((p) => `${p.field}: ${p.message}`).join('; ');
}

export interface TlsRef {
  readonly secretNamespace: string;
  readonly secretName: string;
  /** undefined: the standard names (TLS_DEFAULT_KEYS), first present wins. */
  readonly caKey?: string;
  readonly certKey?: string;
  readonly keyKey?: string;
  /** Where it came from, for messages: spec.tls or the certName annotation. */
  readonly field: string;
}

export interface AuthRef {
  readonly secretNamespace: string;
  readonly secretName: string;
  readonly usernameKey: string;
  readonly passwordKey: string;
  readonly field: string;
}

export interface ResolvedFeature {
  readonly enabled: boolean;
  /** undefined: the feature's default interval. */
  readonly intervalSeconds?: number;
  readonly options?: Readonly<Record<string, unknown>>;
  /** spec.features.<name>, the featureGates annotation, or the defaults. */
  readonly source: 'spec' | 'annotation' | 'default';
}

/** A valid EtcdCluster, normalized: what the controller builds the engine's ClusterSpec from. */
export interface ValidEtcdCluster {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string | undefined;
  readonly generation: number | undefined;
  readonly clusterType: ClusterType;
  readonly endpoints: readonly Endpoint[];
  readonly storageBackend: 'v3' | 'v2';
  readonly description: string | undefined;
  readonly tls: TlsRef | undefined;
  readonly auth: AuthRef | undefined;
  /** Every feature the object mentions (enabled or not), by name, sorted. */
  readonly features: Readonly<Record<string, ResolvedFeature>>;
  /** Names of the Secrets (in `namespace`) the cluster reads, for watching them. */
  readonly secretNames: readonly string[];
}

/**
 * The feature validator, as validation needs it: the operator passes its
 * feature registry (FeatureRegistry), so every adapter checks features the
 * same way. Problems name fields relative to the feature ('' for the feature itself).
 */
export interface FeatureValidator {
  has(name: string): boolean;
  /** The message for a feature that does not exist: `unknown feature "x" (known: ...)`. */
  unknown(name: string): string;
  check(
    name: string,
    request: {
      readonly enabled?: boolean;
      readonly intervalSeconds?: number;
      readonly options?: Readonly<Record<string, unknown>>;
    },
    backend: 'v3' | 'v2',
  ): { readonly ok: true } | { readonly ok: false; readonly problems: readonly Problem[] };
}

/** Names only (KNOWN_FEATURES), for validation without the features of a process (CRD tests). */
export function knownFeaturesOnly(known: readonly string[] = KNOWN_FEATURES): FeatureValidator {
  const unknown = (name: string): string => `unknown feature "${name}" (known: ${known.join(', ')})`;
  return {
    has: (name) => known.includes(name),
    unknown,
    check: (name) =>
      known.includes(name) ? { ok: true } : { ok: false, problems: [{ field: '', message: unknown(name) }] },
  };
}

export interface ValidateClusterOptions {
  /** Checks each feature; default knownFeaturesOnly(). */
  readonly features?: FeatureValidator;
  /** Cluster types with a provider; default CLUSTER_TYPES. */
  readonly clusterTypes?: readonly string[];
  /**
   * kstone's certName may name a Secret in another namespace. Off by default:
   * whoever may create an EtcdCluster could otherwise make the operator use
   * any Secret of the cluster.
   */
  readonly allowCrossNamespaceSecrets?: boolean;
}

/** Schema problems of `value` (defaults applied first, as the apiserver does), with field paths. */
export function schemaProblems(schema: TSchema, value: unknown): { value: unknown; problems: Problem[] } {
  const withDefaults: unknown = Value.Default(schema, Value.Clone(value));
  if (Value.Check(schema, withDefaults)) return { value: withDefaults, problems: [] };
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const error of Value.Errors(schema, withDefaults)) {
    const field = formatPath(error.path);
    // A missing or mistyped field fails several checks: the first says it best.
    if (seen.has(field)) continue;
    seen.add(field);
    problems.push({
      field,
      message: describeError(error.message, error.schema as Record<string, unknown>, error.value),
    });
    if (problems.length >= 20) break;
  }
  return { value: withDefaults, problems };
}

/** TypeBox's message, said the way the apiserver would for enums and missing fields. */
function describeError(message: string, schema: Record<string, unknown>, value: unknown): string {
  if (/Expected required property/.test(message)) return 'required field is missing';
  const options = Array.isArray(schema['anyOf'])
    ? (schema['anyOf'] as Record<string, unknown>[])
    : 'const' in schema
      ? [schema]
      : undefined;
  if (options?.every((o) => 'const' in o)) {
    return `unsupported value ${JSON.stringify(value)}: supported values: ${options.map((o) => JSON.stringify(o['const'])).join(', ')}`;
  }
  return message.replace(/^Expected/, 'expected');
}

/**
 * Validates an EtcdCluster read from the API (or anything claiming to be
 * one) and resolves it: endpoints parsed, features merged from spec and the
 * featureGates annotation (spec wins per feature), TLS from spec.tls or the
 * certName annotation (spec wins), Secret key names left to the standard
 * lookup when not given.
 */
export function validateEtcdCluster(
  obj: unknown,
  opts: ValidateClusterOptions = {},
): Validated<ValidEtcdCluster> {
  const checked = schemaProblems(EtcdCluster, obj);
  if (checked.problems.length > 0) return { ok: false, problems: checked.problems };
  const cluster = checked.value as EtcdCluster;
  const problems: Problem[] = [];
  const { metadata, spec } = cluster;
  const namespace = metadata.namespace ?? '';
  if (namespace === '')
    problems.push({
      field: 'metadata.namespace',
      message: 'EtcdCluster is namespaced; the namespace is missing',
    });
  const annotations = metadata.annotations ?? {};

  const clusterType = spec.clusterType ?? 'imported';
  const clusterTypes = opts.clusterTypes ?? CLUSTER_TYPES;
  if (!clusterTypes.includes(clusterType)) {
    problems.push({
      field: 'spec.clusterType',
      message: `cluster type "${clusterType}" has no provider (known: ${clusterTypes.join(', ')})`,
    });
  }

  const endpoints: Endpoint[] = [];
  const seenEndpoints = new Set<string>();
  spec.endpoints.forEach((raw, i) => {
    try {
      const endpoint = parseEndpoint(raw);
      if (seenEndpoints.has(endpoint.url)) {
        problems.push({ field: `spec.endpoints[${i}]`, message: `${endpoint.url} is listed twice` });
        return;
      }
      seenEndpoints.add(endpoint.url);
      endpoints.push(endpoint);
    } catch (err) {
      problems.push({
        field: `spec.endpoints[${i}]`,
        message: errorMessage(err),
      });
    }
  });

  // Features: the annotation first, then spec entries replace whole features.
  const known = opts.features ?? knownFeaturesOnly();
  const backend = spec.storageBackend ?? 'v3';
  const features = new Map<string, ResolvedFeature>();
  const gatesText = annotations[ANNOTATION_FEATURE_GATES];
  const gatesField = `metadata.annotations.${ANNOTATION_FEATURE_GATES}`;
  if (gatesText !== undefined) {
    const gates = parseFeatureGates(gatesText);
    for (const problem of gates.problems) problems.push({ field: gatesField, message: problem });
    for (const [name, enabled] of gates.gates) {
      if (spec.features?.[name] !== undefined) continue;
      if (!known.has(name)) {
        // A gate switched off for a feature we do not have harms nobody.
        if (enabled) problems.push({ field: gatesField, message: known.unknown(name) });
        continue;
      }
      features.set(name, { enabled, source: 'annotation' });
    }
  }
  for (const [name, settings] of Object.entries(spec.features ?? {})) {
    const field = `spec.features.${name}`;
    const checked = known.check(name, settings, backend);
    if (!checked.ok) {
      for (const p of checked.problems)
        problems.push({ field: p.field === '' ? field : `${field}.${p.field}`, message: p.message });
      if (!known.has(name)) continue;
    }
    const enabled = settings.enabled ?? true;
    features.set(name, {
      enabled,
      ...(settings.intervalSeconds !== undefined && { intervalSeconds: settings.intervalSeconds }),
      ...(settings.options !== undefined && { options: settings.options }),
      source: 'spec',
    });
  }
  if (spec.features === undefined && gatesText === undefined) {
    for (const name of DEFAULT_FEATURES)
      if (known.has(name)) features.set(name, { enabled: true, source: 'default' });
  }

  let tls: TlsRef | undefined;
  const certName = annotations[ANNOTATION_CERT_NAME];
  if (spec.tls !== undefined) {
    tls = {
      secretNamespace: namespace,
      secretName: spec.tls.secretName,
      ...(spec.tls.caKey !== undefined && { caKey: spec.tls.caKey }),
      ...(spec.tls.certKey !== undefined && { certKey: spec.tls.certKey }),
      ...(spec.tls.keyKey !== undefined && { keyKey: spec.tls.keyKey }),
      field: 'spec.tls',
    };
  } else if (certName !== undefined && certName.trim() !== '') {
    const field = `metadata.annotations.${ANNOTATION_CERT_NAME}`;
    const ref = parseCertName(certName, namespace);
    if (!ref.ok) {
      problems.push({ field, message: ref.problem });
    } else if (ref.namespace !== namespace && opts.allowCrossNamespaceSecrets !== true) {
      problems.push({
        field,
        message: `Secret ${ref.namespace}/${ref.name} is in another namespace; the operator only reads Secrets of the EtcdCluster's namespace (${namespace}): copy it there and use spec.tls`,
      });
    } else {
      tls = { secretNamespace: ref.namespace, secretName: ref.name, field };
    }
  }

  const auth: AuthRef | undefined =
    spec.auth === undefined
      ? undefined
      : {
          secretNamespace: namespace,
          secretName: spec.auth.secretName,
          usernameKey: spec.auth.usernameKey ?? AUTH_DEFAULT_KEYS.username,
          passwordKey: spec.auth.passwordKey ?? AUTH_DEFAULT_KEYS.password,
          field: 'spec.auth',
        };

  if (problems.length > 0) return { ok: false, problems };
  const secretNames = [
    ...new Set(
      [tls, auth]
        .filter((r): r is TlsRef | AuthRef => r !== undefined && r.secretNamespace === namespace)
        .map((r) => r.secretName),
    ),
  ].sort();
  const sortedFeatures = Object.fromEntries([...features].sort(([a], [b]) => a.localeCompare(b)));
  return {
    ok: true,
    value: {
      namespace,
      name: metadata.name,
      uid: metadata.uid,
      generation: metadata.generation,
      clusterType: clusterType,
      endpoints,
      storageBackend: spec.storageBackend ?? 'v3',
      description: spec.description,
      tls,
      auth,
      features: sortedFeatures,
      secretNames,
    },
  };
}

export interface ValidEtcdInspection {
  readonly namespace: string;
  readonly name: string;
  readonly clusterName: string;
  readonly inspectionType: string;
  readonly inspectionProvider: string;
  /** undefined: the feature's default interval. */
  readonly intervalSeconds: number | undefined;
}

/** Validates an EtcdInspection: schema, a namespace, a known feature and provider. */
export function validateEtcdInspection(
  obj: unknown,
  opts: { readonly features?: FeatureValidator; readonly providers?: readonly string[] } = {},
): Validated<ValidEtcdInspection> {
  const checked = schemaProblems(EtcdInspection, obj);
  if (checked.problems.length > 0) return { ok: false, problems: checked.problems };
  const inspection = checked.value as EtcdInspection;
  const problems: Problem[] = [];
  const namespace = inspection.metadata.namespace ?? '';
  if (namespace === '')
    problems.push({
      field: 'metadata.namespace',
      message: 'EtcdInspection is namespaced; the namespace is missing',
    });
  const known = opts.features ?? knownFeaturesOnly();
  const { inspectionType, clusterName } = inspection.spec;
  if (!known.has(inspectionType))
    problems.push({ field: 'spec.inspectionType', message: known.unknown(inspectionType) });
  const provider = inspection.spec.inspectionProvider ?? DEFAULT_INSPECTION_PROVIDER;
  const providers = opts.providers ?? [DEFAULT_INSPECTION_PROVIDER];
  if (!providers.includes(provider))
    problems.push({
      field: 'spec.inspectionProvider',
      message: `unknown provider "${provider}" (known: ${providers.join(', ')})`,
    });
  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    value: {
      namespace,
      name: inspection.metadata.name,
      clusterName,
      inspectionType,
      inspectionProvider: provider,
      intervalSeconds: inspection.spec.intervalInSecond,
    },
  };
}
