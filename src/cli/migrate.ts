/**
 * `etcd-monitor migrate kstone`: kstone's EtcdCluster objects
 * (kstone.tkestack.io/v1alpha2) from files, stdin or a cluster, written as
 * etcdmonitor.dev EtcdClusters on stdout (YAML documents, or a JSON List)
 * for `kubectl apply -f -`. Notes go to stderr; an object that cannot be
 * converted is named with the reason and makes the exit code 1, the others
 * are still written.
 */
import { readFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { parseAllDocuments, stringify } from 'yaml';
import { errorMessage } from '../errors.ts';
import { featureRegistry } from '../features/index.ts';
import { formatProblems } from '../k8s/api/validate.ts';
import { createClients, describeResource, ResourceClient } from '../k8s/client/index.ts';
import {
  convertKstoneCluster,
  KSTONE_GROUP,
  KstoneEtcdCluster,
  kstoneObjects,
  type ConvertOptions,
  type MigratedCluster,
} from '../migrate/kstone.ts';
import { UsageError } from './common.ts';
import { kubeConfigFromFlags } from './kube-config.ts';

interface KstoneFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly namespace?: string;
  readonly targetNamespace?: string;
  readonly output: 'yaml' | 'json';
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

const kstoneResource = describeResource({
  group: KSTONE_GROUP,
  version: 'v1alpha2',
  plural: 'etcdclusters',
  kind: 'EtcdCluster',
  namespaced: true,
  hasStatus: true,
  schema: KstoneEtcdCluster,
});

export function migrateCommand(done: (code: number) => void): Command {
  const kstone = new Command('kstone')
    .description(
      'Convert kstone EtcdClusters (kstone.tkestack.io/v1alpha2) into etcdmonitor.dev EtcdClusters: read FILEs (YAML or JSON; - for stdin) or, with --kubeconfig, the cluster; write them to stdout for kubectl apply -f -.',
    )
    .argument('[files...]', 'YAML/JSON files with kstone EtcdCluster objects, a List, or several documents')
    .option('--kubeconfig <file>', 'read the kstone EtcdClusters from this cluster instead of files')
    .option('--context <name>', 'kubeconfig context (default: the current one)')
    .option(
      '-n, --namespace <namespace>',
      'only this namespace (cluster: default all; files: for objects without one, default "default")',
    )
    .option(
      '--target-namespace <namespace>',
      'write every EtcdCluster into this namespace (default: its own)',
    )
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .action(async (files: string[], flags: KstoneFlags) => done(await migrateKstone(files, flags)));
  return new Command('migrate')
    .description("Convert another tool's objects into etcd-monitor's (today: kstone).")
    .addCommand(kstone.exitOverride().showHelpAfterError('(run with --help for usage)'));
}

interface Source {
  readonly objects: unknown[];
  readonly secrets: (namespace: string, name: string) => Promise<readonly string[] | undefined>;
  readonly skipped: string[];
  /** Objects the API returned that are not even kstone EtcdClusters in shape. */
  readonly rejected: string[];
}

async function fromFiles(files: readonly string[], defaultNamespace: string): Promise<Source> {
  const docs: unknown[] = [];
  for (const file of files) {
    let text: string;
    try {
      text = file === '-' ? await readStdin() : await readFile(file, 'utf8');
    } catch (err) {
      throw new UsageError(`${file}: cannot read: ${errorMessage(err)}`);
    }
    for (const doc of parseAllDocuments(text)) {
      if (doc.errors.length > 0)
        throw new UsageError(`${file}: not YAML or JSON: ${doc.errors[0]!.message.split('\n')[0]}`);
      docs.push(doc.toJS());
    }
  }
  const { objects, secrets, skipped } = kstoneObjects(docs, defaultNamespace);
  return { objects, secrets: async (ns, name) => secrets.get(`${ns}/${name}`), skipped, rejected: [] };
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function fromCluster(flags: KstoneFlags): Promise<Source & { close(): Promise<void> }> {
  const clients = createClients(kubeConfigFromFlags(flags));
  try {
    const kstone = new ResourceClient(clients.transport, kstoneResource);
    let list: Awaited<ReturnType<typeof kstone.list>>;
    try {
      list = await kstone.list(flags.namespace, { timeoutMs: 30_000 });
    } catch (err) {
      const message = errorMessage(err);
      throw new Error(
        /404/.test(message)
          ? `the cluster serves no ${KSTONE_GROUP}/v1alpha2 EtcdClusters (is kstone's CRD installed?): ${message}`
          : `listing kstone EtcdClusters: ${message}`,
      );
    }
    return {
      objects: list.items.map((o) => ({ ...o })),
      secrets: async (ns, name) => {
        try {
          const secret = await clients.secrets.get(ns, name, { timeoutMs: 10_000 });
          return Object.keys(secret.data ?? {});
        } catch {
          // Not readable (RBAC) or not there: the conversion says what to check.
          return undefined;
        }
      },
      skipped: [],
      rejected: list.rejected.map((r) => `${r.key}: ${formatProblems(r.problems)}`),
      close: () => clients.close(),
    };
  } catch (err) {
    await clients.close();
    throw err;
  }
}

async function migrateKstone(files: readonly string[], flags: KstoneFlags): Promise<number> {
  for (const [flag, value] of [
    ['--namespace', flags.namespace],
    ['--target-namespace', flags.targetNamespace],
  ] as const) {
    if (value !== undefined && !DNS_LABEL.test(value))
      throw new UsageError(`${flag}: "${value}" is not a namespace name`);
  }
  if (files.length > 0 && flags.kubeconfig !== undefined)
    throw new UsageError('give files or --kubeconfig, not both');
  if (files.length === 0 && flags.kubeconfig === undefined)
    throw new UsageError(
      'nothing to convert: give files with kstone EtcdCluster objects (- for stdin), or read them from a cluster with --kubeconfig FILE',
    );

  const defaultNamespace = flags.namespace ?? 'default';
  const source = files.length > 0 ? await fromFiles(files, defaultNamespace) : await fromCluster(flags);
  try {
    const base: ConvertOptions = {
      defaultNamespace,
      knownFeatures: featureRegistry.names(),
      ...(flags.targetNamespace !== undefined && { targetNamespace: flags.targetNamespace }),
    };
    const converted: MigratedCluster[] = [];
    let failed = source.rejected.length;
    for (const r of source.rejected) process.stderr.write(`error: ${r}\n`);
    for (const s of source.skipped) process.stderr.write(`note: ${s}: not a kstone EtcdCluster; skipped\n`);
    for (const [i, obj] of source.objects.entries()) {
      const first = convertKstoneCluster(obj, base);
      // Second pass with the key names of the TLS Secret: a password there becomes spec.auth.
      const tls = first.ok ? first.cluster.spec.tls : undefined;
      const keys =
        first.ok && tls !== undefined
          ? await source.secrets(first.cluster.metadata.namespace, tls.secretName)
          : undefined;
      const result =
        keys === undefined ? first : convertKstoneCluster(obj, { ...base, secretKeys: () => keys });
      const name = describeObject(obj, i, defaultNamespace);
      if (!result.ok) {
        failed++;
        process.stderr.write(`error: ${name}: cannot convert: ${result.problems.join('; ')}\n`);
        continue;
      }
      for (const w of result.warnings) process.stderr.write(`note: ${name}: ${w}\n`);
      converted.push(result.cluster);
    }
    if (flags.output === 'json') {
      process.stdout.write(
        `${JSON.stringify({ apiVersion: 'v1', kind: 'List', items: converted }, null, 2)}\n`,
      );
    } else {
      process.stdout.write(converted.map((c) => stringify(c)).join('---\n'));
    }
    process.stderr.write(
      `converted ${converted.length} EtcdCluster(s)${failed > 0 ? `; ${failed} could not be converted` : ''}\n`,
    );
    return failed > 0 ? 1 : 0;
  } finally {
    if ('close' in source && typeof source.close === 'function') await source.close();
  }
}

/** "namespace/name" of an input object, or its position when it has no name. */
function describeObject(obj: unknown, index: number, defaultNamespace: string): string {
  const meta =
    obj !== null && typeof obj === 'object'
      ? (obj as { metadata?: { name?: unknown; namespace?: unknown } }).metadata
      : undefined;
  if (typeof meta?.name !== 'string') return `object ${index + 1}`;
  return `EtcdCluster ${typeof meta.namespace === 'string' ? meta.namespace : defaultNamespace}/${meta.name}`;
}
