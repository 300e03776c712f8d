/**
 * Where the operator finds the API server and how it authenticates, decided
 * as kubectl decides it:
 *   --kubeconfig FILE   that file alone;
 *   else $KUBECONFIG    its files (':'-separated) merged as kubectl merges
 *                       them: the first file to name a cluster, user or
 *                       context wins, and the first current-context set;
 *                       files that do not exist are skipped;
 *   else ~/.kube/config when it exists;
 *   else in-cluster     the pod's ServiceAccount token (re-read as the
 *                       kubelet rotates it), CA and namespace.
 * --context picks another context than current-context; --master replaces
 * the server (alone, with no file found: that server, anonymously).
 *
 * Why not @kubernetes/client-node's loader: importing that package costs
 * ~0.6 s of CPU and ~87 MiB of RSS (docs/development.md has the figures), for a
 * loader that is a YAML file, a merge rule and five kinds of credentials.
 * The operator needs nothing else from it, so the dependency is gone.
 * Supported credentials: bearer token, token file, client certificate
 * (file or data), basic auth, and exec plugins
 * (client.authentication.k8s.io/v1 and v1beta1, the way cloud providers
 * authenticate today). Legacy auth-provider plugins, proxy-url and
 * impersonation are refused with a message, never silently ignored.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { parse as parseYaml, YAMLError } from 'yaml';
import { schemaProblems } from '../api/validate.ts';
import { errorMessage, redactUserinfo, yamlErrorText } from '../../errors.ts';

export interface KubeConfigFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly master?: string;
}

/** Where the loader looks; tests replace what the process would use. */
export interface KubeConfigEnv {
  /** default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** default os.homedir() */
  readonly home?: string;
  /** default /var/run/secrets/kubernetes.io/serviceaccount */
  readonly serviceAccountDir?: string;
}

/** An exec credential plugin (client.authentication.k8s.io). */
export interface ExecPlugin {
  readonly apiVersion: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  readonly installHint: string | undefined;
  readonly provideClusterInfo: boolean;
}

export type Credentials =
  | { readonly type: 'none' }
  | { readonly type: 'token'; readonly token: string }
  /** Re-read at most every minute: bound ServiceAccount tokens rotate. */
  | { readonly type: 'tokenFile'; readonly file: string }
  | { readonly type: 'basic'; readonly username: string; readonly password: string }
  | { readonly type: 'exec'; readonly exec: ExecPlugin };

/** One API server and how to reach it (client-go's rest.Config). */
export interface RestConfig {
  /** e.g. https://10.0.0.1:6443, without a trailing slash */
  readonly server: string;
  readonly tls: {
    /** PEM texts. */
    readonly ca?: string;
    readonly cert?: string;
    readonly key?: string;
    readonly insecureSkipTLSVerify?: boolean;
    readonly serverName?: string;
  };
  readonly credentials: Credentials;
  /** The context's namespace, if any. */
  readonly namespace?: string;
  /** Where the configuration came from, for messages: "--kubeconfig FILE", "KUBECONFIG", "in-cluster", ... */
  readonly source: string;
}

export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

// The parts of a kubeconfig file that are read; other fields pass.
const Name = Type.String({ minLength: 1 });

const ExecConfig = Type.Object({
  apiVersion: Type.String(),
  command: Type.String({ minLength: 1 }),
  args: Type.Optional(Type.Union([Type.Array(Type.String()), Type.Null()])),
  env: Type.Optional(
    Type.Union([Type.Array(Type.Object({ name: Type.String(), value: Type.String() })), Type.Null()]),
  ),
  installHint: Type.Optional(Type.String()),
  provideClusterInfo: Type.Optional(Type.Boolean()),
});

const ClusterEntry = Type.Object({
  server: Type.String({ minLength: 1 }),
  'certificate-authority': Type.Optional(Type.String()),
  'certificate-authority-data': Type.Optional(Type.String()),
  'insecure-skip-tls-verify': Type.Optional(Type.Boolean()),
  'tls-server-name': Type.Optional(Type.String()),
  'proxy-url': Type.Optional(Type.String()),
});

const UserEntry = Type.Object({
  token: Type.Optional(Type.String()),
  tokenFile: Type.Optional(Type.String()),
  'client-certificate': Type.Optional(Type.String()),
  'client-certificate-data': Type.Optional(Type.String()),
  'client-key': Type.Optional(Type.String()),
  'client-key-data': Type.Optional(Type.String()),
  username: Type.Optional(Type.String()),
  password: Type.Optional(Type.String()),
  exec: Type.Optional(Type.Union([ExecConfig, Type.Null()])),
  'auth-provider': Type.Optional(Type.Union([Type.Object({ name: Type.String() }), Type.Null()])),
  as: Type.Optional(Type.String()),
});

const ContextEntry = Type.Object({
  cluster: Type.String({ minLength: 1 }),
  user: Type.Optional(Type.String()),
  namespace: Type.Optional(Type.String()),
});

/** Lists left empty in YAML ("users:") read as null: the loader drops them before this check. */
const KubeconfigFile = Type.Object({
  'current-context': Type.Optional(Type.String()),
  clusters: Type.Optional(Type.Array(Type.Object({ name: Name, cluster: ClusterEntry }))),
  users: Type.Optional(Type.Array(Type.Object({ name: Name, user: UserEntry }))),
  contexts: Type.Optional(Type.Array(Type.Object({ name: Name, context: ContextEntry }))),
});
type KubeconfigFile = Static<typeof KubeconfigFile>;
type ClusterEntry = Static<typeof ClusterEntry>;
type UserEntry = Static<typeof UserEntry>;
type ContextEntry = Static<typeof ContextEntry>;

/** An entry and the file it came from (relative paths resolve next to it). */
interface FromFile<T> {
  readonly value: T;
  readonly file: string;
}

/** Several kubeconfig files merged by kubectl's rules. */
interface Merged {
  readonly clusters: Map<string, FromFile<ClusterEntry>>;
  readonly users: Map<string, FromFile<UserEntry>>;
  readonly contexts: Map<string, FromFile<ContextEntry>>;
  currentContext: string | undefined;
}

/** Reads one file; `what` names it in messages, e.g. "--kubeconfig FILE". */
function readKubeconfig(file: string, what: string): KubeconfigFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new KubeConfigError(`${what}: cannot read it: ${errorMessage(err)}`);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text) ?? {};
  } catch (err) {
    // Never the parser's excerpt of the file: the line may hold a token or a key.
    throw new KubeConfigError(
      `${what}: not YAML ${err instanceof YAMLError ? yamlErrorText(err) : errorMessage(err)}`,
    );
  }
  if (typeof raw === 'object' && raw !== null) {
    const lists = raw as Record<string, unknown>;
    for (const key of ['clusters', 'users', 'contexts']) if (lists[key] === null) delete lists[key];
  }
  const { value, problems } = schemaProblems(KubeconfigFile, raw);
  if (problems.length > 0)
    throw new KubeConfigError(`${what}: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
  return value as KubeconfigFile;
}

function merge(files: readonly string[], what: (file: string) => string): Merged {
  const merged: Merged = {
    clusters: new Map(),
    users: new Map(),
    contexts: new Map(),
    currentContext: undefined,
  };
  for (const file of files) {
    const k = readKubeconfig(file, what(file));
    for (const c of k.clusters ?? [])
      if (!merged.clusters.has(c.name)) merged.clusters.set(c.name, { value: c.cluster, file });
    for (const u of k.users ?? [])
      if (!merged.users.has(u.name)) merged.users.set(u.name, { value: u.user, file });
    for (const c of k.contexts ?? [])
      if (!merged.contexts.has(c.name)) merged.contexts.set(c.name, { value: c.context, file });
    const current = k['current-context'];
    if (merged.currentContext === undefined && current !== undefined && current !== '')
      merged.currentContext = current;
  }
  return merged;
}

function checkServer(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KubeConfigError(
      `${what} "${redactUserinfo(url)}" is not a URL (want e.g. https://10.0.0.1:6443)`,
    );
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new KubeConfigError(`${what} "${redactUserinfo(url)}": only https:// (or http://) is supported`);
  // Credentials belong in the user entry: in the URL they would reach every log line that names the server.
  if (parsed.username !== '' || parsed.password !== '')
    throw new KubeConfigError(
      `${what} "${redactUserinfo(url)}" holds user info: put credentials in the user entry (token, client certificate), not in the server URL`,
    );
  return url.replace(/\/+$/, '');
}

/** A path from a kubeconfig, resolved next to the file that holds it (as kubectl does). */
function pathIn(file: string, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(file), path);
}

/** PEM from a *-data field (base64) or a file field; what names the field for messages. */
function pem(
  data: string | undefined,
  path: string | undefined,
  file: string,
  what: string,
): string | undefined {
  if (data !== undefined && data !== '') {
    const text = Buffer.from(data, 'base64').toString('utf8');
    if (!text.includes('-----BEGIN')) throw new KubeConfigError(`${what}-data is not base64 of a PEM block`);
    return text;
  }
  if (path === undefined || path === '') return undefined;
  const full = pathIn(file, path);
  try {
    return readFileSync(full, 'utf8');
  } catch (err) {
    throw new KubeConfigError(`${what}: cannot read ${full}: ${errorMessage(err)}`);
  }
}

function credentialsOf(user: UserEntry, file: string, where: string): Credentials {
  const provider = user['auth-provider'];
  if (provider !== undefined && provider !== null) {
    throw new KubeConfigError(
      `${where} uses auth-provider "${provider.name}", which etcd-monitor does not support (kubectl dropped the built-in ones too): use an exec credential plugin instead (e.g. gke-gcloud-auth-plugin, kubelogin)`,
    );
  }
  if (user.as !== undefined && user.as !== '')
    throw new KubeConfigError(`${where}: impersonation ("as") is not supported`);
  const exec = user.exec;
  if (exec !== undefined && exec !== null) {
    if (!/^client\.authentication\.k8s\.io\/(v1|v1beta1)$/.test(exec.apiVersion)) {
      throw new KubeConfigError(
        `${where}: exec apiVersion "${exec.apiVersion}" is not supported (client.authentication.k8s.io/v1 or v1beta1)`,
      );
    }
    // A command with a directory part is relative to the kubeconfig; a bare name is looked up in PATH.
    const command = exec.command.includes(sep) ? pathIn(file, exec.command) : exec.command;
    return {
      type: 'exec',
      exec: {
        apiVersion: exec.apiVersion,
        command,
        args: exec.args ?? [],
        env: Object.fromEntries((exec.env ?? []).map((e) => [e.name, e.value])),
        installHint: exec.installHint,
        provideClusterInfo: exec.provideClusterInfo ?? false,
      },
    };
  }
  if (user.token !== undefined && user.token !== '') return { type: 'token', token: user.token };
  if (user.tokenFile !== undefined && user.tokenFile !== '')
    return { type: 'tokenFile', file: pathIn(file, user.tokenFile) };
  if (user.username !== undefined && user.username !== '')
    return { type: 'basic', username: user.username, password: user.password ?? '' };
  return { type: 'none' };
}

/** The configuration of one context of merged files. */
function fromMerged(merged: Merged, flags: KubeConfigFlags, source: string): RestConfig {
  const contextName =
    flags.context !== undefined && flags.context !== '' ? flags.context : merged.currentContext;
  if (contextName === undefined)
    throw new KubeConfigError(`${source}: no current-context is set (pass --context)`);
  const context = merged.contexts.get(contextName);
  if (context === undefined) {
    const known = [...merged.contexts.keys()].join(', ') || 'none';
    throw new KubeConfigError(`${source}: context "${contextName}" is not defined (contexts: ${known})`);
  }
  const cluster = merged.clusters.get(context.value.cluster);
  if (cluster === undefined)
    throw new KubeConfigError(
      `${source}: context "${contextName}" names cluster "${context.value.cluster}", which is not defined`,
    );
  const c = cluster.value;
  const clusterWhere = `${source}: cluster "${context.value.cluster}" (${cluster.file})`;
  if (c['proxy-url'] !== undefined && c['proxy-url'] !== '')
    throw new KubeConfigError(`${clusterWhere}: proxy-url is not supported`);
  const userName = context.value.user;
  let credentials: Credentials = { type: 'none' };
  let cert: string | undefined;
  let key: string | undefined;
  if (userName !== undefined && userName !== '') {
    const user = merged.users.get(userName);
    if (user === undefined)
      throw new KubeConfigError(
        `${source}: context "${contextName}" names user "${userName}", which is not defined`,
      );
    const userWhere = `${source}: user "${userName}" (${user.file})`;
    credentials = credentialsOf(user.value, user.file, userWhere);
    cert = pem(
      user.value['client-certificate-data'],
      user.value['client-certificate'],
      user.file,
      `${userWhere}: client-certificate`,
    );
    key = pem(user.value['client-key-data'], user.value['client-key'], user.file, `${userWhere}: client-key`);
    if ((cert === undefined) !== (key === undefined))
      throw new KubeConfigError(
        `${userWhere}: a client certificate needs both client-certificate and client-key`,
      );
  }
  const ca = pem(
    c['certificate-authority-data'],
    c['certificate-authority'],
    cluster.file,
    `${clusterWhere}: certificate-authority`,
  );
  const master =
    flags.master !== undefined && flags.master !== '' ? checkServer(flags.master, '--master') : undefined;
  const namespace = context.value.namespace;
  return {
    server: master ?? checkServer(c.server, `${clusterWhere}: server`),
    tls: {
      ...(ca !== undefined && { ca }),
      ...(cert !== undefined && { cert }),
      ...(key !== undefined && { key }),
      ...(c['insecure-skip-tls-verify'] === true && { insecureSkipTLSVerify: true }),
      ...(c['tls-server-name'] !== undefined &&
        c['tls-server-name'] !== '' && { serverName: c['tls-server-name'] }),
    },
    credentials,
    ...(namespace !== undefined && namespace !== '' && { namespace }),
    source,
  };
}

/** The in-cluster configuration, or a KubeConfigError saying why there is none. */
export function inClusterConfig(opts: KubeConfigEnv = {}): RestConfig {
  const env = opts.env ?? process.env;
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (host === undefined || host === '' || port === undefined || port === '') {
    throw new KubeConfigError(
      'no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config) and not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT are not set): pass --kubeconfig or --master',
    );
  }
  const tokenFile = join(dir, 'token');
  let ca: string;
  try {
    readFileSync(tokenFile);
    ca = readFileSync(join(dir, 'ca.crt'), 'utf8');
  } catch (err) {
    throw new KubeConfigError(
      `in-cluster configuration: cannot read ${(err as { path?: string }).path ?? dir} (is a ServiceAccount token mounted?)`,
    );
  }
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim();
  } catch {
    namespace = undefined;
  }
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca },
    credentials: { type: 'tokenFile', file: tokenFile },
    ...(namespace !== undefined && namespace !== '' && { namespace }),
    source: 'in-cluster',
  };
}

/** Loads the configuration the flags and the environment ask for; throws KubeConfigError with what to do. */
export function loadKubeConfig(flags: KubeConfigFlags, where: KubeConfigEnv = {}): RestConfig {
  const env = where.env ?? process.env;
  const master =
    flags.master !== undefined && flags.master !== '' ? checkServer(flags.master, '--master') : undefined;

  if (flags.kubeconfig !== undefined && flags.kubeconfig !== '') {
    const source = `--kubeconfig ${flags.kubeconfig}`;
    return fromMerged(
      merge([flags.kubeconfig], () => source),
      flags,
      source,
    );
  }
  const list = env['KUBECONFIG'];
  if (list !== undefined && list !== '') {
    const files = list.split(delimiter).filter((f) => f !== '' && existsSync(f));
    if (files.length > 0)
      return fromMerged(
        merge(files, (f) => `kubeconfig ${f} (in $KUBECONFIG)`),
        flags,
        `KUBECONFIG=${list}`,
      );
  } else {
    const home = join(where.home ?? homedir(), '.kube', 'config');
    if (existsSync(home))
      return fromMerged(
        merge([home], () => `kubeconfig ${home}`),
        flags,
        home,
      );
  }
  if (master !== undefined)
    return { server: master, tls: {}, credentials: { type: 'none' }, source: '--master' };
  if (flags.context !== undefined && flags.context !== '')
    throw new KubeConfigError(
      `--context ${flags.context}: no kubeconfig found (--kubeconfig, $KUBECONFIG, ~/.kube/config)`,
    );
  return inClusterConfig(where);
}
