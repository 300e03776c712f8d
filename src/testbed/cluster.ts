/**
 * Real etcd clusters on 127.0.0.1 for tests and the demo: N members of a
 * given minor version, optionally with TLS (client and peer, client-cert
 * auth) and etcd auth (user root with a random password).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { etcdBinaries, isEtcdVersion, type EtcdBinaries, type EtcdVersion } from './binaries.ts';
import { generateCertificates, type ServingCertOptions, type TestClusterTls } from './certs.ts';
import { httpGet } from './http.ts';
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

export interface StartClusterOptions {
  /** default '3.6' */
  version?: EtcdVersion;
  /** default 3 */
  members?: number;
  /** client AND peer TLS with client-cert auth (--client-cert-auth), certs generated per cluster */
  tls?: boolean;
  /**
   * With tls: certificate variations for the certificates inspection's
   * tests: the CA's validity, and per member a serving certificate of its
   * own for the client URL (short-lived, expired, other SANs).
   */
  tlsCerts?: { caDays?: number; serving?: readonly ServingCertOptions[] };
  /** creates user root with a random password, enables auth (via etcdctl) */
  auth?: boolean;
  /** --enable-v2 (3.4/3.5 only) */
  enableV2?: boolean;
  quotaBackendBytes?: number;
  /** --auth-token-ttl, to test token refresh */
  authTokenTtlSeconds?: number;
  extraArgs?: readonly string[];
  /** prefix for member names / dirs; default 'etcd' */
  name?: string;
  /** where member logs go (default inside the cluster dir, removed by stop()) */
  logDir?: string;
  /** raft heartbeat; default 100 ms (etcd's default, stable on a loaded 2-core machine) */
  heartbeatIntervalMs?: number;
  /** raft election timeout; default 1000 ms; etcd wants >= 5 x heartbeat */
  electionTimeoutMs?: number;
  /** deadline for the whole start (all members healthy, auth set up); default 30 s */
  startTimeoutMs?: number;
}

export interface TestMember {
  readonly name: string;
  readonly clientURL: string;
  readonly peerURL: string;
  readonly dataDir: string;
  /** This member's log file (stdout and stderr of etcd). */
  readonly logFile: string;
  readonly running: boolean;
  readonly pid: number | undefined;
}

export interface EtcdctlOptions {
  /** default: every endpoint of the cluster */
  endpoints?: readonly string[];
  /** extra environment, applied last (ETCDCTL_* here wins over the cluster's settings) */
  env?: Record<string, string>;
  /** written to etcdctl's stdin (e.g. a password with --interactive=false) */
  input?: string;
  /** send the cluster's credentials; default true (when the cluster has auth) */
  auth?: boolean;
  /** present the cluster's client certificate; default true (when the cluster has TLS) */
  clientCert?: boolean;
  /** kill etcdctl after this long; default 30 s */
  timeoutMs?: number;
}

export interface TestCluster extends AsyncDisposable {
  readonly version: EtcdVersion;
  /** e.g. 3.6.16 */
  readonly binaryVersion: string;
  readonly binaries: EtcdBinaries;
  /** client URLs, http(s)://127.0.0.1:PORT */
  readonly endpoints: readonly string[];
  readonly members: readonly TestMember[];
  readonly dir: string;
  readonly tls: TestClusterTls | undefined;
  readonly auth: { readonly username: string; readonly password: string } | undefined;
  /** SIGTERM, wait for exit (SIGKILL after a deadline) */
  stopMember(i: number): Promise<void>;
  /** SIGKILL, wait for exit */
  killMember(i: number): Promise<void>;
  /**
   * SIGSTOP: the member stops dead (no answer, no raft, no fsync) while its
   * sockets stay open, as a member stalled by its disk or a long GC would;
   * stopMember and stop() continue it first, killMember kills it paused
   * (it never runs again). Resolves once
   * every thread of the member is stopped (not when the signal is sent).
   */
  pauseMember(i: number): Promise<void>;
  /** SIGCONT; a no-op for a member not running. */
  resumeMember(i: number): void;
  /**
   * restart a stopped member with the same data dir/ports, wait until it
   * serves; `version` restarts it with another minor version's binary (a
   * step of a rolling upgrade or downgrade)
   */
  startMember(i: number, opts?: { version?: EtcdVersion }): Promise<void>;
  /**
   * `etcdctl member add` (as a learner when asked) with fresh ports, then
   * starts the new member (unless start is false: an added member that never
   * started). Resolves to the new member's index in `members`.
   */
  addMember(opts?: { learner?: boolean; start?: boolean }): Promise<number>;
  /** every running member answers /health {"health":"true"} */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /**
   * etcdctl of this cluster's version (ETCDCTL_API=3 where that still means
   * something) with its endpoints, certs and credentials, passed as ETCDCTL_*
   * variables; a flag given in args replaces the matching variable. Resolves
   * to stdout; throws with stderr, passwords redacted.
   */
  etcdctl(args: readonly string[], opts?: EtcdctlOptions): Promise<string>;
  /** idempotent: kill every process, remove the whole dir */
  stop(): Promise<void>;
}

const DEFAULT_START_TIMEOUT_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const HEALTH_POLL_MS = 50;
const PROBE_TIMEOUT_MS = 5_000;
const PROBE_OVERLAP_MS = 250;
const MAX_PROBES_IN_FLIGHT = 8;

/** The process environment without variables etcd or etcdctl would read as flags. */
function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key.startsWith('ETCD_') || key.startsWith('ETCDCTL_')) continue;
    env[key] = value;
  }
  // etcd refuses to start on architectures it does not officially support
  // unless told so; 3.4 does not list arm64.
  if (process.arch !== 'x64') env['ETCD_UNSUPPORTED_ARCH'] = process.arch;
  return env;
}

class Member implements TestMember {
  readonly name: string;
  readonly clientURL: string;
  readonly peerURL: string;
  readonly dataDir: string;
  readonly logFile: string;
  args: readonly string[] = [];
  proc: TrackedProcess | undefined;
  /** This member's binaries when they differ from the cluster's (mixed versions). */
  binaries: EtcdBinaries | undefined;

  constructor(name: string, clientURL: string, peerURL: string, dataDir: string, logFile: string) {
    this.name = name;
    this.clientURL = clientURL;
    this.peerURL = peerURL;
    this.dataDir = dataDir;
    this.logFile = logFile;
  }

  get running(): boolean {
    return isAlive(this.proc?.child);
  }

  get pid(): number | undefined {
    return this.running ? this.proc?.child.pid : undefined;
  }
}

/** Whether args set --flag (as `--flag`, `--flag value` or `--flag=value`). */
function flagGiven(args: readonly string[], flag: string): boolean {
  return args.some((a) => a === `--${flag}` || a.startsWith(`--${flag}=`));
}

class EtcdTestCluster implements TestCluster {
  readonly version: EtcdVersion;
  readonly binaries: EtcdBinaries;
  readonly dir: string;
  readonly members: Member[];
  readonly tls: TestClusterTls | undefined;
  #token = '';
  auth: { readonly username: string; readonly password: string } | undefined;
  private readonly opts: StartClusterOptions;
  private stopping: Promise<void> | undefined;

  constructor(
    version: EtcdVersion,
    binaries: EtcdBinaries,
    dir: string,
    members: Member[],
    tls: TestClusterTls | undefined,
    opts: StartClusterOptions,
  ) {
    this.version = version;
    this.binaries = binaries;
    this.dir = dir;
    this.members = members;
    this.tls = tls;
    this.opts = opts;
  }

  get binaryVersion(): string {
    return this.binaries.version;
  }

  get endpoints(): readonly string[] {
    return this.members.map((m) => m.clientURL);
  }

  private member(i: number): Member {
    const m = this.members[i];
    if (m === undefined) throw new Error(`no member ${i}; the cluster has ${this.members.length}`);
    return m;
  }

  private assertNotStopped(): void {
    if (this.stopping) throw new Error('the cluster has been stopped');
  }

  buildArgs(token: string): void {
    this.#token = token;
    const initialCluster = this.members.map((m) => `${m.name}=${m.peerURL}`).join(',');
    for (const m of this.members) m.args = this.memberArgs(m, initialCluster, 'new');
  }

  private memberArgs(m: Member, initialCluster: string, state: 'new' | 'existing'): string[] {
    const o = this.opts;
    const args = [
      `--name=${m.name}`,
      `--data-dir=${m.dataDir}`,
      `--listen-client-urls=${m.clientURL}`,
      `--advertise-client-urls=${m.clientURL}`,
      `--listen-peer-urls=${m.peerURL}`,
      `--initial-advertise-peer-urls=${m.peerURL}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-state=${state}`,
      `--initial-cluster-token=${this.#token}`,
      `--heartbeat-interval=${o.heartbeatIntervalMs ?? 100}`,
      `--election-timeout=${o.electionTimeoutMs ?? 1000}`,
      // 3.4 defaults to the deprecated capnslog; zap (JSON lines) everywhere.
      '--logger=zap',
      '--log-outputs=stderr',
    ];
    if (this.tls) {
      const serving = this.tls.serving[this.members.indexOf(m)];
      args.push(
        `--cert-file=${serving?.certFile ?? this.tls.serverCertFile}`,
        `--key-file=${serving?.keyFile ?? this.tls.serverKeyFile}`,
        `--trusted-ca-file=${this.tls.caFile}`,
        '--client-cert-auth',
        `--peer-cert-file=${this.tls.serverCertFile}`,
        `--peer-key-file=${this.tls.serverKeyFile}`,
        `--peer-trusted-ca-file=${this.tls.caFile}`,
        '--peer-client-cert-auth',
      );
    }
    if (o.enableV2) args.push('--enable-v2');
    if (o.quotaBackendBytes !== undefined) args.push(`--quota-backend-bytes=${o.quotaBackendBytes}`);
    if (o.authTokenTtlSeconds !== undefined) args.push(`--auth-token-ttl=${o.authTokenTtlSeconds}`);
    if (o.extraArgs) args.push(...o.extraArgs);
    return args;
  }

  private spawnMember(m: Member): void {
    const fd = openSync(m.logFile, 'a');
    try {
      m.proc = spawnTracked((m.binaries ?? this.binaries).etcd, m.args, {
        stdio: ['ignore', fd, fd],
        env: cleanEnv(),
        killWithParent: true,
      });
    } finally {
      // The child has its own copy of the descriptor.
      closeSync(fd);
    }
  }

  /** One health probe; resolves to undefined when healthy, else the reason. */
  private async probe(m: Member, timeoutMs: number, signal: AbortSignal): Promise<string | undefined> {
    const tls = this.tls
      ? {
          ca: this.tls.ca,
          cert: this.tls.cert,
          key: this.tls.key,
          // A member serving a deliberately bad certificate is still probed.
          insecureSkipVerify: this.tls.serving[this.members.indexOf(m)] !== undefined,
        }
      : undefined;
    try {
      const res = await httpGet(`${m.clientURL}/health`, { tls, timeoutMs, signal });
      if (res.status === 200) {
        const body: unknown = JSON.parse(res.body);
        if (typeof body === 'object' && body !== null && (body as { health?: unknown }).health === 'true')
          return undefined;
      }
      return `HTTP ${res.status}: ${res.body.trim().slice(0, 200)}`;
    } catch (err) {
      return errorMessage(err);
    }
  }

  /**
   * Polls /health of the given members until all are healthy. Fails early when
   * one of them exits, and at the deadline with each failing member's last
   * answer and log tail.
   *
   * A starting member accepts connections before it serves them (it answers
   * only once it has joined the cluster), so a probe can hang for a while and
   * then the member is suddenly ready. Rather than one probe at a time with a
   * long timeout (slow) or a short one (never succeeds on a loaded machine),
   * a new probe is started every PROBE_OVERLAP_MS while older ones are still
   * waiting; the first healthy answer counts.
   */
  private async waitMembersHealthy(members: readonly Member[], timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const abort = new AbortController();
    const state = new Map(
      members.map((m) => [m, { healthy: false, inFlight: 0, lastStart: 0, reason: 'not probed yet' }]),
    );
    try {
      for (;;) {
        for (const [m, st] of state) {
          if (st.healthy) continue;
          if (!m.running) {
            const exit = m.proc ? await m.proc.exited : undefined;
            const how = exit?.error
              ? `failed to start: ${exit.error.message}`
              : `exited (code ${exit?.code ?? 'none'}, signal ${exit?.signal ?? 'none'})`;
            const tail = await logTail(m.logFile);
            const message = `etcd member ${m.name} ${how}; log ${m.logFile}:\n${tail}`;
            throw exitError(message, tail);
          }
          const now = Date.now();
          if (
            st.inFlight === 0 ||
            (st.inFlight < MAX_PROBES_IN_FLIGHT && now - st.lastStart >= PROBE_OVERLAP_MS)
          ) {
            st.inFlight++;
            st.lastStart = now;
            const probeTimeout = Math.max(250, Math.min(PROBE_TIMEOUT_MS, deadline - now));
            void this.probe(m, probeTimeout, abort.signal).then((reason) => {
              st.inFlight--;
              if (reason === undefined) st.healthy = true;
              else if (!st.healthy) st.reason = reason;
            });
          }
        }
        if ([...state.values()].every((st) => st.healthy)) return;
        if (Date.now() >= deadline) {
          const details = await Promise.all(
            [...state]
              .filter(([, st]) => !st.healthy)
              .map(
                async ([m, st]) =>
                  `- ${m.name} (${m.clientURL}): ${st.reason}\n  log ${m.logFile}:\n${await logTail(m.logFile)}`,
              ),
          );
          throw new Error(
            `etcd ${this.binaryVersion} not healthy within ${timeoutMs} ms:\n${details.join('\n')}`,
          );
        }
        await sleep(HEALTH_POLL_MS);
      }
    } finally {
      // Probes still waiting would hold sockets (and the event loop) open.
      abort.abort();
    }
  }

  async boot(): Promise<void> {
    const timeoutMs = this.opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const deadline = Date.now() + timeoutMs;
    await mkdir(join(this.dir, 'logs'), { recursive: true });
    if (this.opts.logDir !== undefined) await mkdir(this.opts.logDir, { recursive: true });
    // All at once: a member of a new cluster waits for its peers anyway.
    for (const m of this.members) this.spawnMember(m);
    await this.waitMembersHealthy(this.members, timeoutMs);
    if (this.opts.auth) await this.enableAuth(deadline);
  }

  private async enableAuth(deadline: number): Promise<void> {
    const password = randomBytes(18).toString('base64url');
    const auth = { username: 'root', password };
    const timeoutMs = Math.max(1_000, deadline - Date.now());
    // Password through stdin: never on a command line other users can see.
    await this.etcdctlAs(
      undefined,
      ['user', 'add', 'root', '--interactive=false'],
      { input: `${password}\n`, timeoutMs },
      [password],
    );
    await this.etcdctlAs(undefined, ['role', 'add', 'root'], { timeoutMs });
    await this.etcdctlAs(undefined, ['user', 'grant-role', 'root', 'root'], { timeoutMs });
    await this.etcdctlAs(undefined, ['auth', 'enable'], { timeoutMs });
    this.auth = auth;
  }

  etcdctl(args: readonly string[], opts: EtcdctlOptions = {}): Promise<string> {
    const auth = opts.auth === false ? undefined : this.auth;
    return this.etcdctlAs(auth, args, opts, this.auth ? [this.auth.password] : []);
  }

  private etcdctlAs(
    auth: { username: string; password: string } | undefined,
    args: readonly string[],
    opts: EtcdctlOptions,
    secrets: readonly string[] = [],
  ): Promise<string> {
    // Settings go through ETCDCTL_* variables rather than flags; one given
    // as a flag in args replaces ours (etcdctl rejects a flag that is also
    // set in the environment).
    const ours: Record<string, string> = { ETCDCTL_ENDPOINTS: (opts.endpoints ?? this.endpoints).join(',') };
    // 3.6's etcdctl is v3 only and warns about ETCDCTL_API as unrecognized.
    if (this.version !== '3.6') ours['ETCDCTL_API'] = '3';
    if (this.tls) {
      ours['ETCDCTL_CACERT'] = this.tls.caFile;
      if (opts.clientCert !== false) {
        ours['ETCDCTL_CERT'] = this.tls.certFile;
        ours['ETCDCTL_KEY'] = this.tls.keyFile;
      }
    }
    if (auth && !flagGiven(args, 'user') && !flagGiven(args, 'password')) {
      ours['ETCDCTL_USER'] = auth.username;
      ours['ETCDCTL_PASSWORD'] = auth.password;
    }
    for (const key of Object.keys(ours)) {
      const flag = key.slice('ETCDCTL_'.length).toLowerCase().replaceAll('_', '-');
      if (key !== 'ETCDCTL_API' && flagGiven(args, flag)) delete ours[key];
    }
    const env = { ...cleanEnv(), ...ours, ...opts.env };

    // Everything that could be a password is redacted from error messages.
    const redactions = [...secrets];
    const envPassword = opts.env?.['ETCDCTL_PASSWORD'];
    if (envPassword) redactions.push(envPassword);
    const shownArgs = args.map((a) => {
      const m = /^(--(?:[a-z-]*password)=)(.*)$/.exec(a) ?? /^(--user=[^:]*:)(.*)$/.exec(a);
      if (m?.[1] !== undefined && m[2]) {
        redactions.push(m[2]);
        return `${m[1]}***`;
      }
      return a;
    });
    const redact = (text: string): string =>
      redactions.filter((s) => s.length > 0).reduce((t, s) => t.split(s).join('***'), text);

    const timeoutMs = opts.timeoutMs ?? 30_000;
    return new Promise((resolve, reject) => {
      const { child, exited } = spawnTracked(this.binaries.etcdctl, args, {
        stdio: ['pipe', 'pipe', 'pipe'],
        env,
      });
      const stdout: Buffer[] = [];
      const stderr: Buffer[] = [];
      child.stdout?.on('data', (c: Buffer) => stdout.push(c));
      child.stderr?.on('data', (c: Buffer) => stderr.push(c));
      child.stdin?.on('error', () => {
        // etcdctl may exit without reading stdin; the exit status tells.
      });
      child.stdin?.end(opts.input ?? '');
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      // 'exit' can come before the last output has been read: wait for the
      // pipes to close as well.
      const drained = (stream: Readable | null): Promise<void> =>
        stream === null || stream.closed
          ? Promise.resolve()
          : new Promise((r) => stream.once('close', () => r()));
      void Promise.all([exited, drained(child.stdout), drained(child.stderr)]).then(
        ([{ code, signal, error }]) => {
          clearTimeout(timer);
          const out = Buffer.concat(stdout).toString('utf8');
          if (code === 0) {
            resolve(out);
            return;
          }
          const why = error
            ? error.message
            : signal === 'SIGKILL'
              ? `killed after ${timeoutMs} ms`
              : `exit ${code ?? signal ?? '?'}`;
          const err = Buffer.concat(stderr).toString('utf8').trim() || out.trim();
          reject(new Error(redact(`etcdctl ${shownArgs.join(' ')} failed (${why}): ${err}`)));
        },
      );
    });
  }

  async waitHealthy(timeoutMs: number = DEFAULT_START_TIMEOUT_MS): Promise<void> {
    this.assertNotStopped();
    await this.waitMembersHealthy(
      this.members.filter((m) => m.running),
      timeoutMs,
    );
  }

  private async terminate(m: Member, signal: NodeJS.Signals, graceMs: number): Promise<void> {
    const proc = m.proc;
    if (!proc || !isAlive(proc.child)) return;
    // A paused member (pauseMember) would not act on SIGTERM until continued.
    // SIGKILL ends a stopped process as it is: continuing it first would let it
    // run until the kill lands, applying and sending what it received while
    // paused (a watch on it delivered writes made during the pause).
    if (signal !== 'SIGKILL') proc.child.kill('SIGCONT');
    proc.child.kill(signal);
    let timer: NodeJS.Timeout | undefined;
    const exitedInTime = await Promise.race([
      proc.exited.then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), graceMs))),
    ]);
    // A pending grace timer would keep the event loop alive for seconds.
    clearTimeout(timer);
    if (!exitedInTime) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  }

  async stopMember(i: number): Promise<void> {
    this.assertNotStopped();
    await this.terminate(this.member(i), 'SIGTERM', STOP_GRACE_MS);
  }

  async killMember(i: number): Promise<void> {
    this.assertNotStopped();
    await this.terminate(this.member(i), 'SIGKILL', STOP_GRACE_MS);
  }

  async pauseMember(i: number): Promise<void> {
    this.assertNotStopped();
    const child = this.member(i).proc?.child;
    if (child === undefined || !isAlive(child)) throw new Error(`member ${i} is not running`);
    await stopProcess(child);
  }

  resumeMember(i: number): void {
    const child = this.member(i).proc?.child;
    if (child !== undefined && isAlive(child)) child.kill('SIGCONT');
  }

  async startMember(i: number, opts: { version?: EtcdVersion } = {}): Promise<void> {
    this.assertNotStopped();
    const m = this.member(i);
    if (m.running) return;
    if (opts.version !== undefined) {
      if (!isEtcdVersion(opts.version)) throw new Error(`unsupported etcd version ${String(opts.version)}`);
      m.binaries = opts.version === this.version ? undefined : etcdBinaries(opts.version);
    }
    this.spawnMember(m);
    await this.waitMembersHealthy([m], this.opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  }

  async addMember(opts: { learner?: boolean; start?: boolean } = {}): Promise<number> {
    this.assertNotStopped();
    const index = this.members.length;
    const first = this.members[0];
    if (first === undefined) throw new Error('the cluster has no members');
    const prefix = first.name.slice(0, first.name.lastIndexOf('-'));
    const name = `${prefix}-${index}`;
    const scheme = this.tls ? 'https' : 'http';
    const [clientPort, peerPort] = [await freePort(), await freePort()];
    const logDir = this.opts.logDir;
    const m = new Member(
      name,
      `${scheme}://127.0.0.1:${clientPort}`,
      `${scheme}://127.0.0.1:${peerPort}`,
      join(this.dir, `${name}.etcd`),
      logDir !== undefined
        ? join(logDir, `${basename(this.dir)}-${name}.log`)
        : join(this.dir, 'logs', `${name}.log`),
    );
    const running = this.members.filter((x) => x.running).map((x) => x.clientURL);
    // etcd refuses a member change while the leader has not heard from a
    // quorum recently ("unhealthy cluster"), e.g. right after an election.
    const deadline = Date.now() + (this.opts.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
    for (;;) {
      try {
        await this.etcdctl(
          ['member', 'add', name, `--peer-urls=${m.peerURL}`, ...(opts.learner ? ['--learner'] : [])],
          { endpoints: running },
        );
        break;
      } catch (err) {
        if (!/unhealthy cluster/.test(errorMessage(err)) || Date.now() > deadline) throw err;
        await sleep(250);
      }
    }
    this.members.push(m);
    const initialCluster = this.members.map((x) => `${x.name}=${x.peerURL}`).join(',');
    m.args = this.memberArgs(m, initialCluster, 'existing');
    if (opts.start !== false) await this.startMember(index);
    return index;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      // The data is thrown away: no need for a graceful shutdown.
      await Promise.all(this.members.map((m) => this.terminate(m, 'SIGKILL', STOP_GRACE_MS)));
      await rm(this.dir, { recursive: true, force: true, maxRetries: 3 });
      untrackDir(this.dir);
    })();
    return this.stopping;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}

function validate(opts: StartClusterOptions): { version: EtcdVersion; members: number } {
  const version = opts.version ?? '3.6';
  if (!isEtcdVersion(version)) throw new Error(`unsupported etcd version ${String(version)}`);
  const members = opts.members ?? 3;
  if (!Number.isInteger(members) || members < 1)
    throw new Error(`members must be a positive integer, got ${members}`);
  if (opts.enableV2 && version === '3.6') {
    throw new Error('enableV2: etcd 3.6 has no v2 API (--enable-v2 was removed); use version 3.4 or 3.5');
  }
  if (opts.name !== undefined && !/^[A-Za-z0-9_-]+$/.test(opts.name)) {
    throw new Error(`name must be letters, digits, '-' or '_', got ${JSON.stringify(opts.name)}`);
  }
  const heartbeat = opts.heartbeatIntervalMs ?? 100;
  const election = opts.electionTimeoutMs ?? 1000;
  if (election < 5 * heartbeat)
    throw new Error(
      `electionTimeoutMs (${election}) must be at least 5 x heartbeatIntervalMs (${heartbeat})`,
    );
  return { version, members };
}

async function createCluster(
  opts: StartClusterOptions,
  version: EtcdVersion,
  binaries: EtcdBinaries,
  count: number,
): Promise<EtcdTestCluster> {
  const prefix = opts.name ?? 'etcd';
  const dir = await mkdtemp(join(tmpdir(), `etcd-monitor-${prefix}-`));
  trackDir(dir);
  try {
    const tls = opts.tls ? await generateCertificates(join(dir, 'certs'), opts.tlsCerts ?? {}) : undefined;
    const scheme = tls ? 'https' : 'http';
    const members: Member[] = [];
    for (let i = 0; i < count; i++) {
      const name = `${prefix}-${i}`;
      const [clientPort, peerPort] = [await freePort(), await freePort()];
      // A shared logDir gets the cluster dir's unique suffix in file names.
      const logFile =
        opts.logDir !== undefined
          ? join(opts.logDir, `${basename(dir)}-${name}.log`)
          : join(dir, 'logs', `${name}.log`);
      members.push(
        new Member(
          name,
          `${scheme}://127.0.0.1:${clientPort}`,
          `${scheme}://127.0.0.1:${peerPort}`,
          join(dir, `${name}.etcd`),
          logFile,
        ),
      );
    }
    const cluster = new EtcdTestCluster(version, binaries, dir, members, tls, opts);
    cluster.buildArgs(`${basename(dir)}-${randomBytes(4).toString('hex')}`);
    return cluster;
  } catch (err) {
    await rm(dir, { recursive: true, force: true });
    untrackDir(dir);
    throw err;
  }
}

/**
 * Starts a cluster and resolves once every member is healthy (and auth is
 * enabled, if asked for). A start that fails because a port was taken in the
 * meantime is retried with fresh ports; any other failure stops everything
 * and rejects with the failing members' log tails.
 */
export async function startEtcdCluster(opts: StartClusterOptions = {}): Promise<TestCluster> {
  const { version, members } = validate(opts);
  const binaries = etcdBinaries(version);
  return retryPortRace('etcd', async () => {
    const cluster = await createCluster(opts, version, binaries, members);
    try {
      await cluster.boot();
      return cluster;
    } catch (err) {
      await cluster.stop();
      throw err;
    }
  });
}
