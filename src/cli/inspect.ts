import { Command, Option } from 'commander';
import { readPasswordFile } from '../config/password-file.ts';
import { etcdClients } from '../engine/clients.ts';
import { Engine } from '../engine/engine.ts';
import { parseEndpoint, type Endpoint } from '../etcd/endpoint.ts';
import { loadTlsMaterial } from '../etcd/tls.ts';
import { Secret } from '../etcd/secret.ts';
import type { AuthCredentials, ClientOptions } from '../etcd/types.ts';
import { clusterToJson, memberToJson } from '../engine/json.ts';
import { SnapshotStore, type ClusterSnapshot } from '../engine/snapshot.ts';
import type { FeatureRequest } from '../engine/contract.ts';
import type { ClusterSpec } from '../engine/cluster-spec.ts';
import type { AlarmDetails } from '../features/alarm/alarm.ts';
import type { HealthyDetails } from '../features/healthy/healthy.ts';
import { featureRegistry } from '../features/index.ts';
import { silentLogger, useColor } from '../log.ts';
import { errorMessage } from '../errors.ts';
import { parseBool, positiveSeconds, UsageError } from './common.ts';
import { checkInspectFeatures, inspectFeatureRequests } from './feature-settings.ts';
import { environmentValue } from './raw-env.ts';
import { exitAfter } from './signals.ts';
import { renderTable } from './table.ts';
import { keyspaceProgress, keyspaceView } from '../features/request/report.ts';
import { humanBytes } from '../units.ts';
import { collectWhy, type WhyEntry } from '../engine/why.ts';
import { findingFigure, findingThreshold } from '../findings.ts';

/** What `inspect` runs when --features is not given: every check that gives a verdict in one round. */
export const DEFAULT_INSPECT_FEATURES = [
  'healthy',
  'alarm',
  'consistency',
  'quota',
  'topology',
  'certificates',
];

interface InspectFlags {
  readonly endpoints: string;
  readonly cacert?: string;
  readonly cert?: string;
  readonly key?: string;
  readonly serverName?: string;
  readonly insecureSkipTlsVerify: boolean;
  readonly user?: string;
  readonly passwordFile?: string;
  readonly features?: string;
  /** Every --set FEATURE.OPTION=VALUE, in order (typed and checked in buildSpec, never echoed). */
  readonly set?: readonly string[];
  /** Adds the request inspection with keyspace sizes. */
  readonly keyspaceSizes?: boolean;
  readonly storageBackend: 'v3' | 'v2';
  readonly discoverMembers: boolean;
  readonly dialTimeout: number;
  readonly commandTimeout: number;
  readonly timeout: number;
  readonly output: 'table' | 'json';
  readonly writeOut?: 'table' | 'json';
  readonly name: string;
  /** --user came from $ETCDCTL_USER (where etcdctl's user:password form is allowed). */
  readonly userFromEnv?: boolean;
  /** A config file of the daemon, to inspect one of its clusters (--cluster) as the daemon would. */
  readonly config?: string;
  readonly cluster?: string;
  /** The flags (by option name) given on the command line, not defaulted nor from a variable. */
  readonly onCommandLine?: readonly string[];
}

/**
 * The flags that say how to reach a cluster. With --config the file says it
 * (as the daemon reads it): given on the command line they are refused, not
 * merged, so what runs is what the daemon runs; from ETCDCTL_* variables they
 * are ignored (a shell set up for etcdctl does not get in the way).
 */
const CONNECTION_FLAGS: Readonly<Record<string, string>> = {
  endpoints: '--endpoints',
  cacert: '--cacert',
  cert: '--cert',
  key: '--key',
  serverName: '--server-name',
  insecureSkipTlsVerify: '--insecure-skip-tls-verify',
  user: '--user',
  passwordFile: '--password-file',
  storageBackend: '--storage-backend',
  discoverMembers: '--no-discover-members',
  dialTimeout: '--dial-timeout',
  commandTimeout: '--command-timeout',
  name: '--name',
};

/** etcdctl's default: the member on this machine. */
export const DEFAULT_ENDPOINTS = '127.0.0.1:2379';

export function inspectCommand(done: (code: number) => void): Command {
  return new Command('inspect')
    .description(
      "Inspect one cluster once and print the result. Exit 0: all passed; 1: a member unhealthy, an alarm raised or a check failed; 2: usage error. Flags and ETCDCTL_* variables as etcdctl's (a flag wins over its variable); the password comes from --password-file or $ETCDCTL_PASSWORD, never from the command line.",
    )
    .addOption(
      new Option(
        '--endpoints <urls>',
        'comma-separated client URLs, e.g. https://10.0.0.1:2379,https://10.0.0.2:2379; without a scheme (10.0.0.1:2379), https when a TLS flag is given, else http',
      )
        .env('ETCDCTL_ENDPOINTS')
        .default(DEFAULT_ENDPOINTS),
    )
    .addOption(new Option('--cacert <file>', 'CA bundle to verify the members with').env('ETCDCTL_CACERT'))
    .addOption(new Option('--cert <file>', 'client certificate').env('ETCDCTL_CERT'))
    .addOption(new Option('--key <file>', 'client private key').env('ETCDCTL_KEY'))
    .option('--server-name <name>', 'name to verify the server certificate against')
    .addOption(
      new Option(
        '--insecure-skip-tls-verify [bool]',
        'do not verify server certificates (never in production)',
      )
        .argParser(parseBool('--insecure-skip-tls-verify'))
        .preset(true)
        .default(false)
        .env('ETCDCTL_INSECURE_SKIP_TLS_VERIFY'),
    )
    .addOption(
      new Option('--user <name>', 'username (password from --password-file or $ETCDCTL_PASSWORD)').env(
        'ETCDCTL_USER',
      ),
    )
    .option('--password-file <file>', 'file holding the password')
    .option(
      '--features <names>',
      `comma-separated inspections (default: ${DEFAULT_INSPECT_FEATURES.join(',')}; known: ${featureRegistry.names().join(',')})`,
    )
    .option(
      '--set <feature.option=value>',
      'a feature option as in the config file, e.g. --set quota.warningRatio=0.7 --set certificates.warningDays=30 (repeatable; seconds also as 30s or 5m, lists comma-separated, maps as --set performance.metricsURLs.MEMBER=URL). Turns its feature on, unless --features leaves it out: then refused',
      (value: string, previous: readonly string[] | undefined) => [...(previous ?? []), value],
    )
    .option(
      '--keyspace-sizes',
      'also run the request inspection with keyspace sizes: bytes per resource, the largest objects and keys (reads every value once, paced; waits for the whole scan until --timeout, and says how far it got if that comes first)',
    )
    .addOption(
      new Option('--storage-backend <backend>', 'v3, or v2 for clusters that keep their data in the v2 store')
        .choices(['v3', 'v2'])
        .default('v3'),
    )
    .option(
      '--no-discover-members',
      'inspect only the given endpoints instead of every member of the member list',
    )
    .addOption(
      new Option('--dial-timeout <duration>', 'connection timeout per member (seconds, or 2s, 500ms, 1m)')
        .argParser(positiveSeconds('--dial-timeout'))
        .default(5, '5s')
        .env('ETCDCTL_DIAL_TIMEOUT'),
    )
    .addOption(
      new Option('--command-timeout <duration>', 'deadline of each call (seconds, or 5s, 1m)')
        .argParser(positiveSeconds('--command-timeout'))
        .default(5, '5s')
        .env('ETCDCTL_COMMAND_TIMEOUT'),
    )
    .addOption(
      new Option('--timeout <duration>', 'deadline of the whole inspection (seconds, or 30s, 1m)')
        .argParser(positiveSeconds('--timeout'))
        .default(30, '30s'),
    )
    .option('--name <name>', 'cluster name shown in the output', 'default')
    .addOption(
      new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'),
    )
    .addOption(
      new Option('-w, --write-out <format>', "output format (etcdctl's name for -o)")
        .choices(['table', 'json'])
        .conflicts('output'),
    )
    .option(
      '--config <file>',
      "the daemon's config file (as `run --config`): inspect one of its clusters (--cluster) with its endpoints, TLS, auth (password from its passwordFile), features and options; --features, --set, --timeout and -o refine it; connection flags are refused with it and ETCDCTL_* variables ignored",
    )
    .option('--cluster <name>', 'the cluster of --config to inspect (may be left out when the file has one)')
    .action(async (flags: InspectFlags, cmd: Command) =>
      done(
        await inspect({
          ...flags,
          userFromEnv: cmd.getOptionValueSource('user') === 'env',
          onCommandLine: cmd.options
            .map((o) => o.attributeName())
            .filter((name) => cmd.getOptionValueSource(name) === 'cli'),
        }),
      ),
    );
}

async function buildSpec(flags: InspectFlags): Promise<ClusterSpec> {
  if (flags.config !== undefined) return configSpec(flags, flags.config);
  if (flags.cluster !== undefined)
    throw new UsageError('--cluster names a cluster of --config: give --config FILE');
  const tlsWanted =
    flags.cacert !== undefined ||
    flags.cert !== undefined ||
    flags.serverName !== undefined ||
    flags.insecureSkipTlsVerify;
  const endpoints: Endpoint[] = [];
  for (const raw of flags.endpoints
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    try {
      endpoints.push(parseEndpoint(withScheme(raw, tlsWanted)));
    } catch (err) {
      throw new UsageError(`--endpoints: ${errorMessage(err)}`);
    }
  }
  if (endpoints.length === 0) throw new UsageError('--endpoints: no endpoint given');
  const defaults = new Map<string, FeatureRequest>(DEFAULT_INSPECT_FEATURES.map((n) => [n, {}]));
  const { requests, settings } = inspectFeatureRequests(
    defaults,
    { ...flags, set: flags.set ?? [] },
    featureRegistry,
  );
  // One round, with the whole --timeout as its deadline.
  const features = checkInspectFeatures(requests, settings, featureRegistry, flags.storageBackend, () => ({
    intervalSeconds: flags.timeout,
    timeoutSeconds: flags.timeout,
  }));
  const auth = await credentials(flags);
  if ((flags.cert === undefined) !== (flags.key === undefined))
    throw new UsageError('--cert and --key go together');

  const client: ClientOptions = {
    dialTimeoutMs: flags.dialTimeout * 1000,
    requestTimeoutMs: flags.commandTimeout * 1000,
  };
  const tls = tlsWanted
    ? await loadTlsMaterial({
        ...(flags.cacert !== undefined ? { caFile: flags.cacert } : {}),
        ...(flags.cert !== undefined ? { certFile: flags.cert } : {}),
        ...(flags.key !== undefined ? { keyFile: flags.key } : {}),
        ...(flags.serverName !== undefined ? { serverName: flags.serverName } : {}),
        insecureSkipVerify: flags.insecureSkipTlsVerify,
      })
    : undefined;
  return {
    id: flags.name,
    name: flags.name,
    endpoints,
    storageBackend: flags.storageBackend,
    discoverMembers: flags.discoverMembers,
    client: { ...client, ...(tls !== undefined ? { tls } : {}), ...(auth !== undefined ? { auth } : {}) },
    features,
  };
}

/** Longest list of cluster names a message quotes (a file may hold thousands). */
const NAMES_SHOWN = 20;

/**
 * The spec of one cluster of the daemon's config file, as the daemon loads it
 * (the loader, dynamically imported: the YAML parser costs start-up time only
 * when --config is given), with --features, --set and --timeout on top.
 */
async function configSpec(flags: InspectFlags, file: string): Promise<ClusterSpec> {
  const refused = (flags.onCommandLine ?? []).filter((name) => Object.hasOwn(CONNECTION_FLAGS, name));
  if (refused.length > 0)
    throw new UsageError(
      `${refused.map((name) => CONNECTION_FLAGS[name]).join(', ')}: not with --config, whose cluster says how to reach it (change the file, or leave --config out)`,
    );
  const { ConfigError, loadConfigFile } = await import('../config/loader.ts');
  let loaded: Awaited<ReturnType<typeof loadConfigFile>>;
  try {
    loaded = await loadConfigFile(file, featureRegistry);
  } catch (err) {
    // The loader's message names the file and the field; the daemon would not start either.
    if (err instanceof ConfigError) throw new UsageError(err.message);
    throw err;
  }
  const names = loaded.clusters.map((c) => c.name);
  const listed =
    names.length === 0
      ? 'it has none'
      : `its clusters: ${names.slice(0, NAMES_SHOWN).join(', ')}${names.length > NAMES_SHOWN ? ` and ${names.length - NAMES_SHOWN} more` : ''}`;
  const name = flags.cluster ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined) throw new UsageError(`--cluster: which cluster of ${file}? (${listed})`);
  const spec = loaded.clusters.find((c) => c.name === name);
  if (spec === undefined) throw new UsageError(`--cluster ${name}: no such cluster in ${file} (${listed})`);
  const { requests, settings } = inspectFeatureRequests(
    loaded.featureConfigs.get(name) ?? new Map(),
    { ...flags, set: flags.set ?? [] },
    featureRegistry,
  );
  // One round each, within --timeout: a feature's own timeoutSeconds applies when shorter, as in the daemon.
  // (request: its round has the whole --timeout for the count or scan.)
  const features = checkInspectFeatures(
    requests,
    settings,
    featureRegistry,
    spec.storageBackend,
    (name, r) => ({
      intervalSeconds: r.intervalSeconds ?? flags.timeout,
      timeoutSeconds:
        name === 'request' ? flags.timeout : Math.min(r.timeoutSeconds ?? flags.timeout, flags.timeout),
    }),
  );
  return { ...spec, features };
}

/** etcdctl accepts host:port: https when TLS is configured, http otherwise. */
export function withScheme(endpoint: string, tls: boolean): string {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(endpoint) ? endpoint : `${tls ? 'https' : 'http'}://${endpoint}`;
}

/**
 * --user (or $ETCDCTL_USER) with the password from --password-file or
 * $ETCDCTL_PASSWORD. etcdctl's `user:password` form is taken from the
 * environment only: a password on the command line is visible to every user
 * of the machine (ps, shell history).
 */
async function credentials(flags: InspectFlags): Promise<AuthCredentials | undefined> {
  const fromEnv = process.env['ETCDCTL_PASSWORD'];
  // Byte for byte, as etcdctl takes it (Node would have turned bytes that are not UTF-8 into U+FFFD).
  const envPassword =
    fromEnv !== undefined && fromEnv !== '' ? environmentValue('ETCDCTL_PASSWORD', fromEnv) : undefined;
  let username = flags.user;
  let inlinePassword: string | Buffer | undefined;
  if (username?.includes(':')) {
    if (!flags.userFromEnv)
      throw new UsageError(
        '--user: a password on the command line is visible to every user of this machine; give it with --password-file or $ETCDCTL_PASSWORD',
      );
    const raw = environmentValue('ETCDCTL_USER', username);
    const colon = raw.indexOf(':');
    inlinePassword = typeof raw === 'string' ? raw.slice(colon + 1) : raw.subarray(colon + 1);
    username = username.slice(0, username.indexOf(':'));
  }
  if (username === undefined || username === '') {
    if (flags.passwordFile !== undefined) throw new UsageError('--password-file needs --user');
    return undefined;
  }
  if (flags.passwordFile !== undefined)
    return { username, password: await readPasswordFile(flags.passwordFile) };
  const password = inlinePassword ?? envPassword;
  if (password === undefined)
    throw new UsageError(`--user ${username}: no password; give --password-file or $ETCDCTL_PASSWORD`);
  return { username, password: new Secret(password) };
}

async function inspect(flags: InspectFlags): Promise<number> {
  let spec: ClusterSpec;
  try {
    spec = await buildSpec(flags);
  } catch (err) {
    process.stderr.write(`etcd-monitor inspect: ${errorMessage(err)}\n`);
    return 2;
  }
  const engine = new Engine({
    store: new SnapshotStore(),
    clients: etcdClients,
    logger: silentLogger(),
    jitter: false,
  });
  const snapshot = await engine.inspectOnce(spec, AbortSignal.timeout(flags.timeout * 1000 + 1000));
  if (snapshot === undefined) {
    process.stderr.write('etcd-monitor inspect: no result\n');
    return 1;
  }
  const report = buildReport(snapshot);
  process.stdout.write(
    (flags.writeOut ?? flags.output) === 'json'
      ? `${JSON.stringify(report, null, 2)}\n`
      : renderReport(snapshot, report, useColor(process.stdout)),
  );
  const code = report.ok ? 0 : 1;
  // Everything was closed; anything the OS still holds open gets a moment, not forever.
  exitAfter(2000, code);
  return code;
}

export interface InspectReport {
  readonly ok: boolean;
  readonly cluster: Record<string, unknown>;
  readonly members: Record<string, unknown>[];
  readonly alarms: { type: string; endpoint: string; memberId: string }[];
  readonly problems: string[];
  /** Figures out of bounds, from any feature (member, cause, figure, threshold). */
  readonly why: WhyEntry[];
  readonly errors: string[];
  /** With keyspace sizes: whether the scan finished, or how far it got when the deadline came. */
  readonly keyspace?: KeyspaceState;
}

export type KeyspaceState =
  | { readonly complete: true }
  | {
      readonly complete: false;
      /** The first scan was still running at the --timeout deadline. */
      readonly stoppedAtDeadline: true;
      readonly keysScanned: number;
      readonly bytesScanned: number;
      readonly prefixes: readonly { readonly prefix: string; readonly done: boolean }[];
    };

/** The state of the keyspace sizes of a request round's details; undefined when sizes were not asked for. */
function keyspaceState(details: unknown): KeyspaceState | undefined {
  const progress = keyspaceProgress(details);
  if (progress !== undefined)
    return {
      complete: false,
      stoppedAtDeadline: true,
      keysScanned: progress.keys,
      bytesScanned: progress.bytes,
      prefixes: progress.prefixes,
    };
  return keyspaceView(details) === undefined ? undefined : { complete: true };
}

/** The JSON of `inspect -o json`: a verdict, one entry per member, the alarms, and why it did not pass. */
export function buildReport(snapshot: ClusterSnapshot): InspectReport {
  const healthy = snapshot.features.healthy?.last?.details as HealthyDetails | null | undefined;
  const alarmDetails = snapshot.features.alarm?.last?.details as AlarmDetails | null | undefined;
  const alarms = (alarmDetails?.alarms ?? []).map((a) => ({
    type: a.type,
    endpoint: a.endpoint,
    memberId: a.memberId,
  }));
  const members = (snapshot.members?.members ?? []).map((m) => {
    const health = healthy?.members.find((h) => h.endpoint === m.endpoint);
    return {
      ...memberToJson(m),
      // null: unknown, the monitor's credentials were refused (its problem, not the member's).
      healthy:
        health?.accessError !== undefined
          ? null
          : (health?.healthy ?? (m.error === undefined && m.version !== undefined)),
      ...(health !== undefined && health.reason !== '' ? { unhealthyReason: health.reason } : {}),
      ...(health?.accessError !== undefined ? { accessError: health.accessError } : {}),
      alarms: alarms.filter((a) => a.endpoint === m.endpoint),
    };
  });
  const errors = [...snapshot.configErrors];
  if (snapshot.members?.error !== undefined) errors.push(snapshot.members.error);
  const problems: string[] = [];
  for (const feature of Object.values(snapshot.features)) {
    if (feature.last === undefined) errors.push(`${feature.name}: did not run`);
    else if (!feature.last.ok) errors.push(`${feature.name}: ${feature.last.error ?? 'failed'}`);
    else problems.push(...feature.last.problems);
  }
  const ok = errors.length === 0 && problems.length === 0 && members.every((m) => m.healthy);
  const { members: _m, features, why: _w, ...cluster } = clusterToJson(snapshot);
  const keyspace = keyspaceState(snapshot.features['request']?.last?.details);
  return {
    ok,
    cluster: { ...cluster, inspections: features },
    members,
    alarms,
    problems,
    why: collectWhy(snapshot),
    errors,
    ...(keyspace !== undefined && { keyspace }),
  };
}

export function renderReport(snapshot: ClusterSnapshot, report: InspectReport, color: boolean): string {
  const lines: string[] = [];
  const leader = snapshot.members?.leaderId;
  lines.push(
    `cluster ${snapshot.name}: ${report.members.length} member(s)${leader !== undefined ? `, leader ${leader.toString(16)}` : ''}`,
  );
  lines.push('');
  lines.push(
    renderTable(
      ['ENDPOINT', 'ID', 'NAME', 'ROLE', 'VERSION', 'DB SIZE', 'RAFT INDEX', 'HEALTHY', 'ALARMS', 'ERROR'],
      report.members.map((m) => [
        String(m.endpoint),
        String(m.id ?? ''),
        String(m.name),
        String(m.role),
        String(m.version ?? ''),
        m.dbSize === null ? '' : humanBytes(BigInt(String(m.dbSize))),
        String(m.raftIndex ?? ''),
        m.healthy === null ? 'unknown' : m.healthy ? 'yes' : 'NO',
        (m.alarms as { type: string }[]).map((a) => a.type).join(',') || '-',
        String(m.unhealthyReason ?? m.accessError ?? m.error ?? ''),
      ]),
    ),
  );
  lines.push('');
  lines.push(
    renderTable(
      ['INSPECTION', 'RESULT', 'SUMMARY'],
      Object.values(snapshot.features).map((f) => [
        f.name,
        f.last === undefined
          ? 'not run'
          : !f.last.ok
            ? 'FAILED'
            : f.last.problems.length > 0
              ? 'PROBLEM'
              : 'ok',
        f.last?.summary ?? '',
      ]),
    ),
  );
  const why = report.why;
  if (why.length > 0) {
    lines.push('', 'WHY (what is wrong, where, and what to do)');
    lines.push(
      renderTable(
        ['MEMBER', 'CAUSE', 'FIGURE', 'THRESHOLD', 'SEVERITY', 'WHAT TO DO'],
        why.map((w) => [
          w.member,
          w.cause,
          findingFigure(w),
          findingThreshold(w) ?? '-',
          w.severity,
          w.action,
        ]),
      ),
    );
  }
  const keyspace = keyspaceView(snapshot.features['request']?.last?.details);
  if (keyspace !== undefined) {
    lines.push(
      '',
      `KEYSPACE ${humanBytes(keyspace.totalBytes)} (key + value as stored)${keyspace.complete ? '' : ': not exact, a re-scan is due'}`,
    );
    lines.push(
      renderTable(
        ['RESOURCE', 'KEYS', 'BYTES', 'AVERAGE', 'LARGEST', 'LARGEST KEY'],
        keyspace.resources.map((r) => [
          r.resourceName,
          String(r.keys),
          humanBytes(r.bytes ?? 0),
          humanBytes(Math.round(r.averageBytes ?? 0)),
          r.largest == null ? 'unknown' : humanBytes(r.largest.bytes),
          r.largest?.key ?? '',
        ]),
      ),
    );
    lines.push('', `LARGEST KEYS${keyspace.topKeysExact ? '' : ' (the rest unknown until a re-scan)'}`);
    lines.push(
      renderTable(
        ['KEY', 'BYTES', 'RESOURCE'],
        keyspace.topKeys.map((k) => [k.key, humanBytes(k.bytes), k.resourceName]),
      ),
    );
  }
  const progress = keyspaceProgress(snapshot.features['request']?.last?.details);
  if (progress !== undefined) {
    const prefixes = progress.prefixes.map((p) => `${p.prefix} ${p.done ? 'done' : 'not done'}`).join(', ');
    lines.push(
      '',
      `KEYSPACE incomplete: the scan stopped at the --timeout deadline after ${progress.keys} keys, ${humanBytes(progress.bytes)} (${prefixes}), reading ${humanBytes(progress.scanBytesPerSecond)}/s: give it more time with --timeout, or read faster with --set request.scanBytesPerSecond`,
    );
  }
  const cluster = report.alarms.filter((a) => a.endpoint === 'cluster');
  if (cluster.length > 0) lines.push('', `cluster-wide alarms: ${cluster.map((a) => a.type).join(', ')}`);
  for (const e of report.errors) lines.push(`error: ${e}`);
  const verdict = report.ok
    ? 'RESULT: OK'
    : `RESULT: PROBLEMS FOUND (${report.problems.length + report.errors.length})`;
  lines.push('', color ? `\x1b[${report.ok ? 32 : 31}m${verdict}\x1b[0m` : verdict);
  return `${lines.join('\n')}\n`;
}
