/**
 * A real kube-apiserver on 127.0.0.1 for tests: built by
 * hack/build-kube-apiserver.sh (version KUBE_VERSION of hack/versions.env),
 * storing into a real etcd of the test bed, serving with openssl-made
 * certificates, with a service-account signing key (so the TokenRequest API
 * issues real ServiceAccount tokens), a static admin token in
 * system:masters, and RBAC authorization. No controller-manager runs:
 * nothing garbage-collects owned objects and deleted namespaces stay
 * Terminating, so tests use fresh namespaces and clean up explicitly.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { accessSync, closeSync, constants, openSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Agent, fetch } from 'undici';
import { parseAllDocuments, stringify as toYaml } from 'yaml';
import { isRecord } from '../k8s/api/json.ts';
import type { RestConfig } from '../k8s/client/kubeconfig.ts';
import { cacheDir, readVersionsEnv, REPO_ROOT, type BinaryEnv } from './binaries.ts';
import { generateCertificates } from './certs.ts';
import { startEtcdCluster, type TestCluster } from './cluster.ts';
import { exitError, freePort, retryPortRace } from './ports.ts';
import {
  isAlive,
  logTail,
  spawnTracked,
  stopProcess,
  trackDir,
  untrackDir,
  type TrackedProcess,
} from './processes.ts';
import { errorMessage } from '../errors.ts';

export interface StartKubeApiserverOptions {
  /** Store into this etcd (left running by stop()); default: a new 1-member etcd 3.6. */
  etcd?: TestCluster;
  /** Extra kube-apiserver flags, e.g. `--watch-cache-sizes=etcdinspections.etcdmonitor.dev#0`. */
  extraArgs?: readonly string[];
  /** Deadline for the whole start, etcd included; default 60 s. */
  startTimeoutMs?: number;
  /** Where the apiserver log goes (default inside its dir, removed by stop()). */
  logDir?: string;
}

export interface RequestOpts {
  /** Bearer token instead of the admin's. */
  readonly token?: string;
  /** default application/json */
  readonly contentType?: string;
  /** default application/json (e.g. application/json;as=Table;v=v1;g=meta.k8s.io for printer columns) */
  readonly accept?: string;
}

export interface ApiResponse {
  readonly status: number;
  /** Parsed JSON, or the text when the body is not JSON. */
  readonly body: unknown;
}

export interface KubeApiserver extends AsyncDisposable {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** The CA that signed the serving certificate (PEM file and text). */
  readonly caFile: string;
  readonly ca: string;
  /** Static token of user etcd-monitor-admin, group system:masters. */
  readonly adminToken: string;
  /** The etcd the apiserver stores into (for compaction and fault tests). */
  readonly etcd: TestCluster;
  /** e.g. 1.34.4 */
  readonly version: string;
  readonly dir: string;
  readonly logFile: string;
  /** undefined while stopped. */
  readonly pid: number | undefined;
  /** A client configuration with the admin token. */
  adminKubeConfig(): RestConfig;
  /** A client configuration that authenticates with this bearer token (e.g. a ServiceAccount token). */
  kubeConfigFor(token: string): RestConfig;
  /** Writes a kubeconfig file for that token (mode 0600), for `--kubeconfig` tests. */
  writeKubeconfig(token: string, file: string): Promise<void>;
  /**
   * A token of an existing ServiceAccount from the TokenRequest API, asked
   * for as admin. Default audience: the apiserver's (its issuer).
   */
  serviceAccountToken(
    namespace: string,
    name: string,
    opts?: { expirationSeconds?: number; audiences?: readonly string[] },
  ): Promise<string>;
  /**
   * Server-side applies manifests as admin: an array of files or directories
   * (their *.yaml / *.yml / *.json files, sorted), or one string, which is
   * YAML text when it contains a newline and a path otherwise. Namespaces and
   * CRDs go first; every CRD is Established (and served) before the rest.
   */
  applyManifests(source: string | readonly string[]): Promise<void>;
  /** One request as admin (or with `token`); JSON bodies in and out. Throws only on transport errors. */
  request(method: string, path: string, body?: unknown, opts?: RequestOpts): Promise<ApiResponse>;
  /**
   * SIGSTOP: the process keeps its sockets open but answers nothing (a
   * silent server). Resolves once every thread is stopped (stopProcess).
   */
  pause(): Promise<void>;
  /** SIGCONT after pause(). */
  resume(): void;
  /** Kills the apiserver and starts it again on the same port, etcd and keys; resolves when ready. */
  restart(): Promise<void>;
  /** Idempotent: kills the apiserver (and the etcd it started), removes the dir. */
  stop(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 60_000;
const READY_POLL_MS = 100;
const PROBE_TIMEOUT_MS = 5_000;
const FIELD_MANAGER = 'etcd-monitor-testbed';
const BUILD_HINT = 'build it with `bash hack/build-kube-apiserver.sh` (or `bash hack/setup.sh --test`)';

/** Where the kube-apiserver binary of KUBE_VERSION lives; ETCD_MONITOR_KUBE_APISERVER overrides the path. */
export function kubeApiserverBinary(env: BinaryEnv = process.env): { path: string; version: string } {
  const version = readVersionsEnv()['KUBE_VERSION'];
  if (version === undefined || version === '')
    throw new Error(`KUBE_VERSION is missing in ${join(REPO_ROOT, 'hack', 'versions.env')}`);
  const override = env['ETCD_MONITOR_KUBE_APISERVER'];
  const path =
    override !== undefined && override !== ''
      ? override
      : join(cacheDir(env), 'kube', `v${version}`, 'kube-apiserver');
  try {
    accessSync(path, constants.X_OK);
  } catch {
    const source = override ? ' (from ETCD_MONITOR_KUBE_APISERVER)' : '';
    throw new Error(`kube-apiserver ${version} not found at ${path}${source}; ${BUILD_HINT}`);
  }
  return { path, version };
}

/** Order in which kinds are applied; everything else comes after, in input order. */
const APPLY_ORDER = [
  'Namespace',
  'CustomResourceDefinition',
  'ServiceAccount',
  'ClusterRole',
  'Role',
  'ClusterRoleBinding',
  'RoleBinding',
];

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly raw: Record<string, unknown>;
  readonly source: string;
}

function toManifests(docs: readonly unknown[], source: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    if (!isRecord(doc)) throw new Error(`${source}: a document is not an object`);
    if (doc['kind'] === 'List' && Array.isArray(doc['items'])) {
      out.push(...toManifests(doc['items'], source));
      continue;
    }
    const { apiVersion, kind, metadata } = doc;
    if (
      typeof apiVersion !== 'string' ||
      typeof kind !== 'string' ||
      !isRecord(metadata) ||
      typeof metadata['name'] !== 'string'
    ) {
      throw new Error(`${source}: every document needs apiVersion, kind and metadata.name`);
    }
    const namespace = metadata['namespace'];
    if (namespace !== undefined && typeof namespace !== 'string')
      throw new Error(`${source}: ${kind} ${metadata['name']}: metadata.namespace is not a string`);
    out.push({
      apiVersion,
      kind,
      metadata: { name: metadata['name'], ...(namespace !== undefined && { namespace }) },
      raw: doc,
      source,
    });
  }
  return out;
}

function parseYaml(text: string, source: string): Manifest[] {
  const docs = parseAllDocuments(text);
  const list = Array.isArray(docs) ? docs : [docs];
  for (const doc of list) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
  }
  return toManifests(
    list.map((d) => d.toJS() as unknown),
    source,
  );
}

async function manifestFiles(path: string): Promise<string[]> {
  const info = await stat(path);
  if (!info.isDirectory()) return [path];
  const names = (await readdir(path)).filter((n) => /\.(ya?ml|json)$/.test(n)).sort();
  return names.map((n) => join(path, n));
}

interface ApiResourceInfo {
  readonly plural: string;
  readonly namespaced: boolean;
}

class KubeApiserverImpl implements KubeApiserver {
  readonly url: string;
  readonly caFile: string;
  readonly ca: string;
  readonly adminToken: string;
  readonly etcd: TestCluster;
  readonly version: string;
  readonly dir: string;
  readonly logFile: string;
  private readonly binary: string;
  private readonly args: readonly string[];
  private readonly ownsEtcd: boolean;
  private readonly agent: Agent;
  private proc: TrackedProcess | undefined;
  private stopping: Promise<void> | undefined;
  private readonly discovery = new Map<string, Map<string, ApiResourceInfo>>();

  constructor(init: {
    url: string;
    caFile: string;
    ca: string;
    adminToken: string;
    etcd: TestCluster;
    ownsEtcd: boolean;
    version: string;
    dir: string;
    logFile: string;
    binary: string;
    args: readonly string[];
  }) {
    this.url = init.url;
    this.caFile = init.caFile;
    this.ca = init.ca;
    this.adminToken = init.adminToken;
    this.etcd = init.etcd;
    this.ownsEtcd = init.ownsEtcd;
    this.version = init.version;
    this.dir = init.dir;
    this.logFile = init.logFile;
    this.binary = init.binary;
    this.args = init.args;
    // Short keep-alive: an idle connection must not hold the event loop for long.
    // HTTP/1.1, as the Kubernetes transport (docs/development.md, "HTTP clients").
    this.agent = new Agent({
      allowH2: false,
      connect: { ca: init.ca },
      keepAliveTimeout: 1_000,
      keepAliveMaxTimeout: 1_000,
    });
  }

  get pid(): number | undefined {
    return isAlive(this.proc?.child) ? this.proc?.child.pid : undefined;
  }

  spawn(): void {
    const fd = openSync(this.logFile, 'a');
    try {
      this.proc = spawnTracked(this.binary, this.args, { stdio: ['ignore', fd, fd], killWithParent: true });
    } finally {
      closeSync(fd);
    }
  }

  async request(method: string, path: string, body?: unknown, opts: RequestOpts = {}): Promise<ApiResponse> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${opts.token ?? this.adminToken}`,
      accept: opts.accept ?? 'application/json',
    };
    if (body !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers,
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      dispatcher: this.agent,
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // Not JSON (e.g. /readyz answers "ok").
    }
    return { status: res.status, body: parsed };
  }

  /** Polls /readyz with the admin token (anonymous /readyz answers 200 as well, before RBAC is ready). */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = 'not probed yet';
    for (;;) {
      const proc = this.proc;
      if (proc === undefined || !isAlive(proc.child)) {
        const exit = proc ? await proc.exited : undefined;
        const tail = await logTail(this.logFile);
        const how = exit?.error
          ? `failed to start: ${exit.error.message}`
          : `exited (code ${exit?.code ?? 'none'}, signal ${exit?.signal ?? 'none'})`;
        const message = `kube-apiserver ${how}; log ${this.logFile}:\n${tail}`;
        throw exitError(message, tail);
      }
      try {
        const res = await fetch(`${this.url}/readyz`, {
          headers: { authorization: `Bearer ${this.adminToken}` },
          dispatcher: this.agent,
          signal: AbortSignal.timeout(Math.max(250, Math.min(PROBE_TIMEOUT_MS, deadline - Date.now()))),
        });
        const text = await res.text();
        if (res.status === 200) return;
        last = `HTTP ${res.status}: ${text
          .trim()
          .split('\n')
          .filter((l) => l.includes('failed'))
          .join('; ')
          .slice(0, 300)}`;
      } catch (err) {
        last = errorMessage(err);
      }
      if (Date.now() >= deadline) {
        throw new Error(
          `kube-apiserver not ready within ${timeoutMs} ms (last: ${last}); log ${this.logFile}:\n${await logTail(this.logFile)}`,
        );
      }
      await sleep(READY_POLL_MS);
    }
  }

  adminKubeConfig(): RestConfig {
    return this.kubeConfigFor(this.adminToken);
  }

  kubeConfigFor(token: string): RestConfig {
    return {
      server: this.url,
      tls: { ca: this.ca },
      credentials: { type: 'token', token },
      source: 'test bed',
    };
  }

  async writeKubeconfig(token: string, file: string): Promise<void> {
    const kubeconfig = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'etcd-monitor-test', cluster: { server: this.url, 'certificate-authority': this.caFile } },
      ],
      users: [{ name: 'token-user', user: { token } }],
      contexts: [
        { name: 'etcd-monitor-test', context: { cluster: 'etcd-monitor-test', user: 'token-user' } },
      ],
      'current-context': 'etcd-monitor-test',
    };
    await writeFile(file, toYaml(kubeconfig), { mode: 0o600 });
  }

  async serviceAccountToken(
    namespace: string,
    name: string,
    opts: { expirationSeconds?: number; audiences?: readonly string[] } = {},
  ): Promise<string> {
    const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/serviceaccounts/${encodeURIComponent(name)}/token`;
    const res = await this.request('POST', path, {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      spec: {
        expirationSeconds: opts.expirationSeconds ?? 3600,
        ...(opts.audiences && { audiences: opts.audiences }),
      },
    });
    const status = isRecord(res.body) ? res.body['status'] : undefined;
    const token = isRecord(status) ? status['token'] : undefined;
    if (res.status !== 201 || typeof token !== 'string') {
      throw new Error(
        `TokenRequest for ServiceAccount ${namespace}/${name} failed: HTTP ${res.status}: ${describeStatus(res.body)}`,
      );
    }
    return token;
  }

  private async resources(apiVersion: string, refresh: boolean): Promise<Map<string, ApiResourceInfo>> {
    let byKind = refresh ? undefined : this.discovery.get(apiVersion);
    if (byKind === undefined) {
      const path = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      const res = await this.request('GET', path);
      byKind = new Map();
      if (res.status === 200 && isRecord(res.body) && Array.isArray(res.body['resources'])) {
        for (const r of res.body['resources']) {
          if (
            !isRecord(r) ||
            typeof r['name'] !== 'string' ||
            r['name'].includes('/') ||
            typeof r['kind'] !== 'string'
          )
            continue;
          byKind.set(r['kind'], { plural: r['name'], namespaced: r['namespaced'] === true });
        }
      }
      this.discovery.set(apiVersion, byKind);
    }
    return byKind;
  }

  /**
   * The resource of a kind. A kind that a CRD of this batch introduced may
   * take a moment to appear in discovery: wait for it (briefly); any other
   * kind is looked up again once, then it is an error.
   */
  private async resourceFor(m: Manifest, fromCrd: boolean): Promise<ApiResourceInfo> {
    const deadline = Date.now() + (fromCrd ? 15_000 : 0);
    for (let refresh = false; ; refresh = true) {
      const info = (await this.resources(m.apiVersion, refresh)).get(m.kind);
      if (info !== undefined) return info;
      if (refresh && Date.now() > deadline)
        throw new Error(`${m.source}: the server does not serve kind ${m.kind} of ${m.apiVersion}`);
      if (refresh) await sleep(100);
    }
  }

  private async applyOne(m: Manifest, fromCrd: boolean): Promise<void> {
    const info = await this.resourceFor(m, fromCrd);
    const base = m.apiVersion.includes('/') ? `/apis/${m.apiVersion}` : `/api/${m.apiVersion}`;
    const namespace = m.metadata.namespace ?? 'default';
    const collection = info.namespaced
      ? `${base}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`
      : `${base}/${info.plural}`;
    const path = `${collection}/${encodeURIComponent(m.metadata.name)}?fieldManager=${FIELD_MANAGER}&force=true`;
    const res = await this.request('PATCH', path, JSON.stringify(m.raw), {
      contentType: 'application/apply-patch+yaml',
    });
    if (res.status !== 200 && res.status !== 201) {
      throw new Error(
        `${m.source}: applying ${m.kind} ${info.namespaced ? `${namespace}/` : ''}${m.metadata.name} failed: HTTP ${res.status}: ${describeStatus(res.body)}`,
      );
    }
  }

  private async waitEstablished(name: string, source: string): Promise<void> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const res = await this.request(
        'GET',
        `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${encodeURIComponent(name)}`,
      );
      const status = isRecord(res.body) ? res.body['status'] : undefined;
      const conditions = isRecord(status) && Array.isArray(status['conditions']) ? status['conditions'] : [];
      const established = conditions.some(
        (c) => isRecord(c) && c['type'] === 'Established' && c['status'] === 'True',
      );
      if (established) return;
      const rejected = conditions.find(
        (c) => isRecord(c) && c['type'] === 'NamesAccepted' && c['status'] === 'False',
      );
      if (isRecord(rejected))
        throw new Error(`${source}: CRD ${name}: names not accepted: ${String(rejected['message'])}`);
      if (Date.now() > deadline) throw new Error(`${source}: CRD ${name} not Established within 20 s`);
      await sleep(50);
    }
  }

  async applyManifests(source: string | readonly string[]): Promise<void> {
    const manifests: Manifest[] = [];
    if (typeof source === 'string' && source.includes('\n')) {
      manifests.push(...parseYaml(source, 'manifest text'));
    } else {
      const paths = typeof source === 'string' ? [source] : source;
      for (const path of paths) {
        for (const file of await manifestFiles(path))
          manifests.push(...parseYaml(await readFile(file, 'utf8'), file));
      }
    }
    const rank = (m: Manifest): number => {
      const i = APPLY_ORDER.indexOf(m.kind);
      return i < 0 ? APPLY_ORDER.length : i;
    };
    const ordered = manifests
      .map((m, i) => ({ m, i }))
      .sort((a, b) => rank(a.m) - rank(b.m) || a.i - b.i)
      .map(({ m }) => m);
    // group/kind pairs defined by the CRDs of this batch.
    const crdKinds = new Set<string>();
    for (const m of ordered) {
      const spec =
        m.kind === 'CustomResourceDefinition' && isRecord(m.raw['spec']) ? m.raw['spec'] : undefined;
      const names = spec !== undefined && isRecord(spec['names']) ? spec['names'] : undefined;
      if (spec !== undefined && names !== undefined)
        crdKinds.add(`${String(spec['group'])}/${String(names['kind'])}`);
    }
    for (const m of ordered) {
      await this.applyOne(m, crdKinds.has(`${m.apiVersion.split('/')[0] ?? ''}/${m.kind}`));
      if (m.kind === 'CustomResourceDefinition' && m.apiVersion.startsWith('apiextensions.k8s.io/')) {
        await this.waitEstablished(m.metadata.name, m.source);
        // Its group/version may have been looked up (and cached) before it existed.
        this.discovery.clear();
      }
    }
  }

  private assertRunning(): number {
    const pid = this.pid;
    if (this.stopping) throw new Error('the kube-apiserver has been stopped');
    if (pid === undefined) throw new Error('the kube-apiserver is not running');
    return pid;
  }

  async pause(): Promise<void> {
    this.assertRunning();
    const child = this.proc?.child;
    if (child === undefined || !isAlive(child)) throw new Error('the kube-apiserver is not running');
    // Not kill(SIGSTOP) alone: it returns before every thread is stopped, and the apiserver's
    // other threads would go on answering for a while on a loaded machine.
    await stopProcess(child);
  }

  resume(): void {
    process.kill(this.assertRunning(), 'SIGCONT');
  }

  private async kill(): Promise<void> {
    const proc = this.proc;
    if (proc === undefined || !isAlive(proc.child)) return;
    // SIGKILL also ends a SIGSTOPped process; the data is thrown away anyway.
    proc.child.kill('SIGKILL');
    await proc.exited;
  }

  /** For a failed start: this process and connections only (the caller owns the dir and etcd). */
  async stopProcessOnly(): Promise<void> {
    await this.kill();
    await this.agent.close().catch(() => undefined);
  }

  async restart(): Promise<void> {
    if (this.stopping) throw new Error('the kube-apiserver has been stopped');
    await this.kill();
    this.discovery.clear();
    this.spawn();
    await this.waitReady(DEFAULT_START_TIMEOUT_MS);
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.kill();
      await this.agent.close().catch(() => undefined);
      if (this.ownsEtcd) await this.etcd.stop();
      await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
      untrackDir(this.dir);
    })();
    return this.stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

/** "reason: message" of a Status body, or the body as text. */
function describeStatus(body: unknown): string {
  if (isRecord(body) && typeof body['message'] === 'string') {
    return typeof body['reason'] === 'string' ? `${body['reason']}: ${body['message']}` : body['message'];
  }
  return (typeof body === 'string' ? body : JSON.stringify(body)).slice(0, 500);
}

/**
 * Starts kube-apiserver and resolves once /readyz answers 200 to the admin.
 * A start that lost its port to someone else is retried on a fresh port;
 * any other failure stops everything and rejects with the log tail.
 */
export async function startKubeApiserver(opts: StartKubeApiserverOptions = {}): Promise<KubeApiserver> {
  const { path: binary, version } = kubeApiserverBinary();
  const timeoutMs = opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  const dir = await mkdtemp(join(tmpdir(), 'etcd-monitor-kube-'));
  trackDir(dir);
  let etcd: TestCluster | undefined = opts.etcd;
  const ownsEtcd = etcd === undefined;
  try {
    etcd ??= await startEtcdCluster({
      version: '3.6',
      members: 1,
      name: 'kube-etcd',
      startTimeoutMs: timeoutMs,
    });
    const backend = etcd;
    const certs = await generateCertificates(join(dir, 'certs'), { hosts: ['127.0.0.1', 'localhost'] });
    // The service-account signing key: EC P-256 is fast to make and accepted (ES256).
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const saKey = join(dir, 'sa.key');
    const saPub = join(dir, 'sa.pub');
    await writeFile(saKey, privateKey.export({ type: 'sec1', format: 'pem' }), { mode: 0o600 });
    await writeFile(saPub, publicKey.export({ type: 'spki', format: 'pem' }));
    const adminToken = randomBytes(24).toString('base64url');
    const tokenFile = join(dir, 'tokens.csv');
    await writeFile(tokenFile, `${adminToken},etcd-monitor-admin,etcd-monitor-admin,"system:masters"\n`, {
      mode: 0o600,
    });
    if (opts.logDir !== undefined) await mkdir(opts.logDir, { recursive: true });

    return await retryPortRace('kube-apiserver', async (attempt) => {
      const port = await freePort();
      const logFile =
        opts.logDir !== undefined
          ? join(opts.logDir, `kube-apiserver-${port}.log`)
          : join(dir, `kube-apiserver-${attempt}.log`);
      const args = [
        `--etcd-servers=${backend.endpoints.join(',')}`,
        ...(backend.tls
          ? [
              `--etcd-cafile=${backend.tls.caFile}`,
              `--etcd-certfile=${backend.tls.certFile}`,
              `--etcd-keyfile=${backend.tls.keyFile}`,
            ]
          : []),
        '--bind-address=127.0.0.1',
        `--secure-port=${port}`,
        `--tls-cert-file=${certs.serverCertFile}`,
        `--tls-private-key-file=${certs.serverKeyFile}`,
        `--cert-dir=${join(dir, 'cert-dir')}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        `--service-account-key-file=${saPub}`,
        `--service-account-signing-key-file=${saKey}`,
        '--authorization-mode=RBAC',
        `--token-auth-file=${tokenFile}`,
        '--service-cluster-ip-range=10.0.0.0/24',
        '--disable-admission-plugins=ServiceAccount',
        '--profiling=false',
        ...(opts.extraArgs ?? []),
      ];
      const server = new KubeApiserverImpl({
        url: `https://127.0.0.1:${port}`,
        caFile: certs.caFile,
        ca: certs.ca,
        adminToken,
        etcd: backend,
        ownsEtcd,
        version,
        dir,
        logFile,
        binary,
        args,
      });
      server.spawn();
      try {
        await server.waitReady(Math.max(1_000, deadline - Date.now()));
        return server;
      } catch (err) {
        // Only this attempt's process; the dir and etcd are handled below.
        await server.stopProcessOnly();
        throw err;
      }
    });
  } catch (err) {
    if (ownsEtcd && etcd !== undefined) await etcd.stop();
    await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    untrackDir(dir);
    throw err;
  }
}
