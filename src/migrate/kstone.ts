/**
 * kstone → etcd-monitor: turns kstone's EtcdCluster objects
 * (kstone.tkestack.io/v1alpha2) into etcdmonitor.dev/v1alpha1 EtcdClusters.
 *
 * What kstone keeps where (its v1alpha2 API and its imported provider):
 *   endpoints    annotation importedAddr, else status.members[].extensionClientUrl
 *                (clientUrl), else status.serviceName
 *   TLS          annotation certName ("<ns>/<secret>" or "<secret>"), else
 *                spec.authConfig.tlsSecret; the Secret holds ca.pem, client.pem,
 *                client-key.pem (read by etcd-monitor's standard key lookup), and
 *                sometimes username/password
 *   features     annotation featureGates ("healthy=true,alarm=true,...")
 *   backend      spec.storageBackend (v2, v3)
 * The annotations become spec fields; the Secrets stay where they are and are
 * referenced by name. Pure: the caller reads the objects (file or cluster)
 * and, when it can, the referenced Secrets' key names.
 */
import { Type, type Static } from '@sinclair/typebox';
import {
  ANNOTATION_CERT_NAME,
  ANNOTATION_FEATURE_GATES,
  ENDPOINT_PATTERN,
  ETCD_CLUSTER_KIND,
  type EtcdClusterSpec,
  type FeatureSettings,
} from '../k8s/api/etcdcluster.ts';
import { parseCertName, parseFeatureGates } from '../k8s/api/kstone.ts';
import { API_VERSION } from '../k8s/api/meta.ts';
import {
  formatProblems,
  knownFeaturesOnly,
  schemaProblems,
  validateEtcdCluster,
} from '../k8s/api/validate.ts';

export const KSTONE_GROUP = 'kstone.tkestack.io';
export const KSTONE_API_VERSION = `${KSTONE_GROUP}/v1alpha2`;
/** kstone's annotations besides featureGates and certName. */
export const KSTONE_ANNOTATION_IMPORTED_ADDR = 'importedAddr';
export const KSTONE_ANNOTATION_EXT_CLIENT_URL = 'extClientURL';
/** Set on every converted object: where it came from. */
export const ANNOTATION_MIGRATED_FROM = 'etcdmonitor.dev/migrated-from';

/** kstone's features with no etcd-monitor equivalent. */
const KSTONE_ONLY_FEATURES: Readonly<Record<string, string>> = {
  monitor: "kstone's Prometheus wiring of the etcd cluster's own metrics",
  backup: 'backups',
  backupcheck: 'backup checks',
};
/** Fields kstone uses to provision clusters (kstone-etcd-operator); nothing here creates clusters. */
const PROVISIONING_FIELDS = [
  'size',
  'diskType',
  'diskSize',
  'version',
  'repository',
  'args',
  'env',
  'resources',
  'affinity',
  'tolerations',
] as const;

const Loose = (description: string) => Type.Unknown({ description });

/** The part of kstone's v1alpha2 EtcdCluster that matters here; everything else passes unchecked. */
export const KstoneEtcdCluster = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  metadata: Type.Object({
    name: Type.String({ minLength: 1 }),
    namespace: Type.Optional(Type.String()),
    labels: Type.Optional(Type.Record(Type.String(), Type.String())),
    annotations: Type.Optional(Type.Record(Type.String(), Type.String())),
  }),
  spec: Type.Optional(
    Type.Object({
      name: Type.Optional(Type.String()),
      description: Type.Optional(Type.String()),
      clusterType: Type.Optional(Type.String()),
      storageBackend: Type.Optional(Type.String()),
      authConfig: Type.Optional(
        Type.Object({
          enableTLS: Type.Optional(Type.Boolean()),
          tlsSecret: Type.Optional(Type.String()),
          san: Type.Optional(Loose('certificate SANs')),
        }),
      ),
    }),
  ),
  status: Type.Optional(
    Type.Object({
      serviceName: Type.Optional(Type.String()),
      members: Type.Optional(
        Type.Array(
          Type.Object({
            clientUrl: Type.Optional(Type.String()),
            extensionClientUrl: Type.Optional(Type.String()),
          }),
        ),
      ),
    }),
  ),
});
export type KstoneEtcdCluster = Static<typeof KstoneEtcdCluster>;

export interface MigratedCluster {
  readonly apiVersion: typeof API_VERSION;
  readonly kind: typeof ETCD_CLUSTER_KIND;
  readonly metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations: Record<string, string>;
  };
  readonly spec: EtcdClusterSpec;
}

export type Conversion =
  | { readonly ok: true; readonly cluster: MigratedCluster; readonly warnings: readonly string[] }
  | { readonly ok: false; readonly problems: readonly string[] };

export interface ConvertOptions {
  /** Put every object in this namespace (default: its own, else `defaultNamespace`). */
  readonly targetNamespace?: string;
  /** For objects without a namespace (a file written by hand). */
  readonly defaultNamespace: string;
  /** Features etcd-monitor runs (the feature registry's names). */
  readonly knownFeatures: readonly string[];
  /**
   * The key names of a Secret ("namespace/name"), when the caller could read
   * it (--kubeconfig, or a Secret in the same input); undefined otherwise.
   * A Secret with `password` gets spec.auth.
   */
  readonly secretKeys?: (namespace: string, name: string) => readonly string[] | undefined;
}

/** Metadata the API server owns: never carried over. */
const SERVER_ANNOTATIONS = ['kubectl.kubernetes.io/last-applied-configuration'];

/** "https://10.0.0.1:2379" from what kstone stored (a scheme and port may be missing). */
function normaliseEndpoint(
  raw: string,
  tls: boolean,
  where: string,
  warnings: string[],
): { ok: true; url: string } | { ok: false; problem: string } {
  let url = raw.trim().replace(/\/+$/, '');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(url)) {
    const scheme = tls ? 'https' : 'http';
    warnings.push(
      `${where}: "${raw}" has no scheme; using ${scheme}:// (the cluster ${tls ? 'has' : 'has no'} TLS)`,
    );
    url = `${scheme}://${url}`;
  }
  if (!/:[0-9]{1,5}$/.test(url)) {
    warnings.push(`${where}: "${raw}" has no port; using etcd's client port 2379`);
    url = `${url}:2379`;
  }
  if (!new RegExp(ENDPOINT_PATTERN).test(url))
    return { ok: false, problem: `${where}: "${raw}" is not an etcd client URL (scheme://host:port)` };
  return { ok: true, url };
}

/** Converts one kstone EtcdCluster; every problem is named with the field it is about. */
export function convertKstoneCluster(input: unknown, opts: ConvertOptions): Conversion {
  const checked = schemaProblems(KstoneEtcdCluster, input);
  if (checked.problems.length > 0) return { ok: false, problems: [formatProblems(checked.problems)] };
  const obj = checked.value as KstoneEtcdCluster;
  if (obj.apiVersion !== KSTONE_API_VERSION || obj.kind !== 'EtcdCluster')
    return {
      ok: false,
      problems: [
        `apiVersion/kind ${obj.apiVersion}/${obj.kind}: expected ${KSTONE_API_VERSION}/EtcdCluster` +
          (obj.apiVersion === `${KSTONE_GROUP}/v1alpha1`
            ? " (kstone's v1alpha1: upgrade the objects to v1alpha2 with kstone's own migration first)"
            : ''),
      ],
    };

  const problems: string[] = [];
  const warnings: string[] = [];
  const annotations = obj.metadata.annotations ?? {};
  const spec = obj.spec ?? {};
  const namespace = opts.targetNamespace ?? obj.metadata.namespace ?? opts.defaultNamespace;
  const sourceNamespace = obj.metadata.namespace ?? opts.defaultNamespace;

  // Cluster type: etcd-monitor imports; a cluster kstone-etcd-operator created is imported too.
  const clusterType = spec.clusterType ?? 'imported';
  if (clusterType === 'kstone-etcd-operator') {
    warnings.push(
      'spec.clusterType kstone-etcd-operator: imported from its endpoints; kstone-etcd-operator keeps running it (etcd-monitor only inspects)',
    );
    const present = PROVISIONING_FIELDS.filter((f) => (spec as Record<string, unknown>)[f] !== undefined);
    if (present.length > 0)
      warnings.push(
        `spec.${present.join(', spec.')}: provisioning fields, not migrated (etcd-monitor creates no clusters)`,
      );
  } else if (clusterType !== 'imported' && clusterType !== '') {
    problems.push(
      `spec.clusterType "${clusterType}" cannot be converted: etcd-monitor imports existing clusters (kstone's imported and kstone-etcd-operator)`,
    );
  }

  // TLS: certName wins over spec.authConfig.tlsSecret, as in kstone.
  let tlsSecret: { namespace: string; name: string; from: string } | undefined;
  const certName = annotations[ANNOTATION_CERT_NAME];
  if (certName !== undefined && certName.trim() !== '') {
    const ref = parseCertName(certName, sourceNamespace);
    if (!ref.ok) problems.push(`metadata.annotations.certName: ${ref.problem}`);
    else tlsSecret = { namespace: ref.namespace, name: ref.name, from: 'metadata.annotations.certName' };
  } else if (spec.authConfig?.tlsSecret !== undefined && spec.authConfig.tlsSecret !== '') {
    tlsSecret = {
      namespace: sourceNamespace,
      name: spec.authConfig.tlsSecret,
      from: 'spec.authConfig.tlsSecret',
    };
  } else if (spec.authConfig?.enableTLS === true) {
    problems.push(
      'spec.authConfig.enableTLS is true but neither certName nor spec.authConfig.tlsSecret names the Secret',
    );
  }
  if (tlsSecret !== undefined && tlsSecret.namespace !== namespace)
    problems.push(
      `${tlsSecret.from}: the Secret ${tlsSecret.namespace}/${tlsSecret.name} is in namespace ${tlsSecret.namespace}, but spec.tls can only name a Secret in the EtcdCluster's namespace (${namespace}): copy the Secret to ${namespace}, or convert with --target-namespace ${tlsSecret.namespace}`,
    );

  // Endpoints: importedAddr, else what kstone last saw of the members.
  const tls = tlsSecret !== undefined;
  const candidates: { raw: string; where: string }[] = [];
  const imported = annotations[KSTONE_ANNOTATION_IMPORTED_ADDR];
  if (imported !== undefined && imported.trim() !== '') {
    for (const [i, raw] of imported.split(',').entries())
      if (raw.trim() !== '') candidates.push({ raw, where: `metadata.annotations.importedAddr[${i}]` });
  } else {
    for (const [i, m] of (obj.status?.members ?? []).entries()) {
      const raw = m.extensionClientUrl || m.clientUrl;
      if (raw) candidates.push({ raw, where: `status.members[${i}]` });
    }
    if (candidates.length === 0 && obj.status?.serviceName)
      candidates.push({ raw: obj.status.serviceName, where: 'status.serviceName' });
  }
  const endpoints: string[] = [];
  for (const c of candidates) {
    const e = normaliseEndpoint(c.raw, tls, c.where, warnings);
    if (!e.ok) problems.push(e.problem);
    else if (!endpoints.includes(e.url)) endpoints.push(e.url);
  }
  if (candidates.length === 0)
    problems.push(
      'no endpoint: neither the importedAddr annotation nor status.members nor status.serviceName holds a client URL; add the annotation importedAddr: "https://<member>:2379" and convert again',
    );
  if (annotations[KSTONE_ANNOTATION_EXT_CLIENT_URL] !== undefined)
    warnings.push(
      'metadata.annotations.extClientURL: member address mapping has no equivalent; etcd-monitor reaches the members at the client URLs they advertise',
    );

  // Features: featureGates → spec.features (true: on with defaults; false: off).
  let features: Record<string, FeatureSettings> | undefined;
  const gatesText = annotations[ANNOTATION_FEATURE_GATES];
  if (gatesText !== undefined) {
    const gates = parseFeatureGates(gatesText);
    for (const p of gates.problems) problems.push(`metadata.annotations.featureGates: ${p}`);
    features = {};
    for (const [name, enabled] of gates.gates) {
      if (KSTONE_ONLY_FEATURES[name] !== undefined) {
        warnings.push(
          `metadata.annotations.featureGates: ${name} (${KSTONE_ONLY_FEATURES[name]}) has no equivalent in etcd-monitor; dropped`,
        );
        continue;
      }
      if (!opts.knownFeatures.includes(name)) {
        problems.push(
          `metadata.annotations.featureGates: unknown feature "${name}" (known: ${opts.knownFeatures.join(', ')})`,
        );
        continue;
      }
      features[name] = enabled ? {} : { enabled: false };
    }
  }

  const storageBackend = spec.storageBackend ?? '';
  if (storageBackend !== '' && storageBackend !== 'v2' && storageBackend !== 'v3')
    problems.push(`spec.storageBackend "${storageBackend}" is not v2 or v3`);
  let description = spec.description ?? '';
  if (description.length > 1024) {
    warnings.push('spec.description: longer than 1024 characters; truncated');
    description = description.slice(0, 1024);
  }

  if (problems.length > 0) return { ok: false, problems };

  const secretKeys =
    tlsSecret === undefined ? undefined : opts.secretKeys?.(tlsSecret.namespace, tlsSecret.name);
  const newSpec: EtcdClusterSpec = {
    clusterType: 'imported',
    endpoints,
    ...(storageBackend === 'v2' && { storageBackend: 'v2' as const }),
    ...(description !== '' && { description }),
    ...(tlsSecret !== undefined && { tls: { secretName: tlsSecret.name } }),
    ...(tlsSecret !== undefined &&
      secretKeys?.includes('password') === true && { auth: { secretName: tlsSecret.name } }),
    ...(features !== undefined && { features }),
  };
  if (tlsSecret !== undefined && secretKeys === undefined)
    warnings.push(
      `spec.auth: the Secret ${tlsSecret.namespace}/${tlsSecret.name} could not be read; if it holds username and password, add auth: {secretName: ${tlsSecret.name}}`,
    );

  const keptAnnotations = Object.fromEntries(
    Object.entries(annotations).filter(
      ([k]) =>
        ![
          ANNOTATION_CERT_NAME,
          ANNOTATION_FEATURE_GATES,
          KSTONE_ANNOTATION_IMPORTED_ADDR,
          KSTONE_ANNOTATION_EXT_CLIENT_URL,
          ...SERVER_ANNOTATIONS,
        ].includes(k),
    ),
  );
  const cluster: MigratedCluster = {
    apiVersion: API_VERSION,
    kind: ETCD_CLUSTER_KIND,
    metadata: {
      name: obj.metadata.name,
      namespace,
      ...(obj.metadata.labels !== undefined && { labels: { ...obj.metadata.labels } }),
      annotations: {
        ...keptAnnotations,
        [ANNOTATION_MIGRATED_FROM]: `${KSTONE_API_VERSION} ${sourceNamespace}/${obj.metadata.name}`,
      },
    },
    spec: newSpec,
  };
  // What the operator will check: the result must pass it.
  const valid = validateEtcdCluster(cluster, { features: knownFeaturesOnly(opts.knownFeatures) });
  if (!valid.ok)
    return { ok: false, problems: [`the converted object is invalid: ${formatProblems(valid.problems)}`] };
  return { ok: true, cluster, warnings };
}

/**
 * The objects of a file or an API list: one object, a List (items), or
 * several YAML documents. kstone EtcdClusters (or anything that does not
 * say what it is) are returned to convert; Secrets are returned by
 * "namespace/name" with their key names (to see which hold a password);
 * anything else is skipped and named.
 */
export function kstoneObjects(
  docs: readonly unknown[],
  defaultNamespace: string,
): { objects: unknown[]; secrets: Map<string, string[]>; skipped: string[] } {
  const objects: unknown[] = [];
  const secrets = new Map<string, string[]>();
  const skipped: string[] = [];
  const visit = (doc: unknown): void => {
    if (doc === null || doc === undefined) return;
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      objects.push(doc);
      return;
    }
    const o = doc as {
      kind?: unknown;
      apiVersion?: unknown;
      items?: unknown;
      metadata?: { name?: unknown; namespace?: unknown };
      data?: unknown;
      stringData?: unknown;
    };
    if (typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items)) {
      for (const item of o.items) visit(item);
      return;
    }
    if (o.kind === 'Secret' && o.apiVersion === 'v1' && typeof o.metadata?.name === 'string') {
      const ns = typeof o.metadata.namespace === 'string' ? o.metadata.namespace : defaultNamespace;
      const keys = [o.data, o.stringData].flatMap((d) =>
        d !== null && typeof d === 'object' ? Object.keys(d) : [],
      );
      secrets.set(`${ns}/${o.metadata.name}`, keys);
      return;
    }
    if (o.kind === 'EtcdCluster' || typeof o.kind !== 'string') {
      objects.push(doc);
      return;
    }
    skipped.push(`${String(o.apiVersion)} ${o.kind} ${String(o.metadata?.name ?? '')}`.trim());
  };
  for (const doc of docs) visit(doc);
  return { objects, secrets, skipped };
}
