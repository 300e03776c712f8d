/**
 * `etcd-monitor etcdcluster`, `inspection` and `operator`: one command that
 * runs one or both controllers, with the same flags (client-go controllers'
 * names and defaults), checks (usage errors exit 2 before anything is
 * contacted) and process lifecycle:
 * serve, campaign, lead; SIGTERM stops gracefully (exit 0, the lease is
 * released so a standby takes over at once); a lost lease exits 1 (the pod
 * restarts and comes back as a standby).
 */
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { featureRegistry } from '../features/index.ts';
import { LabelSelectorError, parseLabelSelector } from '../k8s/client/index.ts';
import { validateLeaderElectionOptions, validateLeaseName } from '../k8s/leaderelection.ts';
import { errorMessage } from '../errors.ts';
import { DEFAULT_STATUS_REFRESH_MS } from '../controllers/etcdcluster/controller.ts';
import {
  Manager,
  type ControllerName,
  type LeaderElectionSettings,
  type ShardingSettings,
} from '../controllers/manager.ts';
import { validateShardGroup } from '../k8s/shard-membership.ts';
import { providerRegistry } from '../providers/index.ts';
import { parseListen } from '../server/app.ts';
import { checkProbeListen } from '../server/listen.ts';
import {
  addLogFlags,
  loggerFrom,
  metricPrefixOption,
  probeListenOption,
  shutdownTimeoutOption,
  parseBool,
  parseDuration,
  positiveInt,
  UsageError,
  type LogFlags,
} from './common.ts';
import type { CommandFactory } from './commands.ts';
import { kubeConfigFromFlags } from './kube-config.ts';
import { onShutdownSignal, stopWithin } from './signals.ts';

export const DEFAULT_METRICS_ADDR = '0.0.0.0:8080';
export const DEFAULT_WORKERS = 4;

interface ControllerFlags extends LogFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly master?: string;
  readonly labelSelector?: string;
  readonly secretNamespaces?: readonly string[];
  readonly leaderElect: boolean;
  readonly sharding: boolean;
  readonly leaseLockName: string;
  readonly leaseLockNamespace?: string;
  readonly leaderElectLeaseDuration: number;
  readonly leaderElectRenewDeadline: number;
  readonly leaderElectRetryPeriod: number;
  readonly listen: string;
  /** The former name of --listen, still accepted. */
  readonly metricsAddr?: string;
  readonly probeListen?: string;
  readonly workers: number;
  readonly statusRefreshPeriod: number;
  readonly metricPrefix?: string;
  readonly shutdownTimeout: number;
}

/** `<flag> <duration>` in milliseconds (15s, 1m, 500ms, as client-go's flags take them); help shows `shown` as the default. */
function durationOption(flag: string, description: string, defaultMs: number, shown: string): Option {
  return new Option(`${flag} <duration>`, description)
    .argParser((value) => {
      const ms = parseDuration(value);
      if (ms === undefined || !(ms > 0))
        throw new InvalidArgumentError(`${flag} must be a positive duration such as 15s, 1m or 500ms.`);
      return ms;
    })
    .default(defaultMs, shown);
}

/** The namespace of the lease when none is given: the pod's (downward API or the ServiceAccount mount), else etcd-monitor. */
function defaultLeaseNamespace(): string {
  const fromEnv = process.env['POD_NAMESPACE'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  try {
    const ns = readFileSync('/var/run/secrets/kubernetes.io/serviceaccount/namespace', 'utf8').trim();
    if (ns !== '') return ns;
  } catch {
    // Not in a pod.
  }
  return 'etcd-monitor';
}

export const operatorCommand: CommandFactory = (done) =>
  controllerCommand(
    'operator',
    'Run both Kubernetes controllers (EtcdCluster and EtcdInspection) in one process, under one leader election.',
    ['etcdcluster', 'inspection'],
    done,
  );

export const etcdclusterCommand: CommandFactory = (done) =>
  controllerCommand(
    'etcdcluster',
    "Run the EtcdCluster controller: reads each EtcdCluster's members into its status and keeps one EtcdInspection per enabled feature.",
    ['etcdcluster'],
    done,
  );

export const inspectionCommand: CommandFactory = (done) =>
  controllerCommand(
    'inspection',
    'Run the EtcdInspection controller: runs every EtcdInspection, writes its status and serves the results on /metrics.',
    ['inspection'],
    done,
  );

/** `etcd-monitor <name>`, running `controllers`; its Lease is etcd-monitor-<name> unless --lease-lock-name says otherwise. */
function controllerCommand(
  name: string,
  description: string,
  controllers: readonly ControllerName[],
  done: (code: number) => void,
): Command {
  const cmd = new Command(name)
    .description(description)
    .option(
      '--kubeconfig <file>',
      "kubeconfig file (default: as kubectl: $KUBECONFIG, else ~/.kube/config, else the pod's in-cluster configuration)",
    )
    .option('--context <name>', 'kubeconfig context to use (default: its current-context)')
    .option('--master <url>', "address of the Kubernetes API server (overrides the kubeconfig's)")
    .option(
      '--label-selector <selector>',
      'only EtcdClusters with these labels, e.g. team=db,env!=dev (one operator per shard)',
    )
    .addOption(
      new Option(
        '--leader-elect [bool]',
        'campaign for a Lease and act only while holding it (--leader-elect=false: act at once)',
      )
        .argParser(parseBool('--leader-elect'))
        .default(true)
        .preset(true),
    )
    .addOption(
      new Option(
        '--sharding [bool]',
        'share the EtcdClusters with the other replicas: each inspects and writes for its part only (one Lease per replica, named after --lease-lock-name and timed by the --leader-elect-* durations); replaces leader election',
      )
        .argParser(parseBool('--sharding'))
        .default(false)
        .preset(true),
    )
    .option(
      '--lease-lock-name <name>',
      'name of the Lease (with --sharding: of the shard group)',
      `etcd-monitor-${name}`,
    )
    .option(
      '--lease-lock-namespace <namespace>',
      "namespace of the Lease (default: $POD_NAMESPACE, else the pod's namespace, else etcd-monitor)",
    )
    .addOption(
      durationOption(
        '--leader-elect-lease-duration',
        'how long a Lease is valid without renewal',
        60_000,
        '60s',
      ),
    )
    .addOption(
      durationOption(
        '--leader-elect-renew-deadline',
        'how long the leader keeps trying to renew before it steps down',
        15_000,
        '15s',
      ),
    )
    .addOption(
      durationOption(
        '--leader-elect-retry-period',
        'interval between two attempts to acquire or renew',
        5_000,
        '5s',
      ),
    )
    .option(
      '--listen <host:port>',
      'address of /metrics, /healthz, /readyz and /api/v1',
      DEFAULT_METRICS_ADDR,
    )
    .addOption(new Option('--metrics-addr <host:port>', 'former name of --listen').hideHelp())
    .addOption(probeListenOption())
    .addOption(
      new Option('--workers <n>', 'objects synced in parallel per controller')
        .argParser(positiveInt('--workers'))
        .default(DEFAULT_WORKERS),
    )
    .addOption(
      durationOption(
        '--status-refresh-period',
        'a status that only differs by lastInspectionTime (or a result by a moving summary) is written at most this often',
        DEFAULT_STATUS_REFRESH_MS,
        '5m',
      ),
    )
    .addOption(metricPrefixOption())
    .addOption(shutdownTimeoutOption())
    .addOption(
      new Option(
        '--secret-namespaces <namespaces>',
        'watch Secrets only in these namespaces (comma-separated), so RBAC can grant Secret reads there alone; default all',
      ).argParser(namespaceList('--secret-namespaces')),
    );
  addLogFlags(cmd).action(async (flags: ControllerFlags) => done(await runControllers(flags, controllers)));
  return cmd;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** A comma-separated list of namespace names, at least one. */
function namespaceList(flag: string): (value: string) => string[] {
  return (value) => {
    const names = value
      .split(',')
      .map((n) => n.trim())
      .filter((n) => n !== '');
    if (names.length === 0) throw new InvalidArgumentError(`${flag} needs at least one namespace.`);
    const bad = names.find((n) => !DNS_LABEL.test(n));
    if (bad !== undefined) throw new InvalidArgumentError(`${flag}: "${bad}" is not a namespace name.`);
    return [...new Set(names)];
  };
}

/** --listen, named as on `run` and `demo`; --metrics-addr (its former name) wins when given. */
function listenAddress(flags: ControllerFlags): string {
  return flags.metricsAddr ?? flags.listen;
}

/**
 * Runs a check written in the settings' words; its error becomes a usage
 * error said with the flags' names (`flagOf`: the first occurrence of each
 * word, in order, is replaced by its flag).
 */
function checkNamingFlags(flagOf: Readonly<Record<string, string>>, check: () => void): void {
  try {
    check();
  } catch (err) {
    let message = errorMessage(err);
    for (const [word, flag] of Object.entries(flagOf)) message = message.replace(word, flag);
    throw new UsageError(message);
  }
}

/** Every check that needs no API server; throws UsageError. */
export function checkFlags(flags: ControllerFlags): {
  election: LeaderElectionSettings | undefined;
  sharding?: ShardingSettings;
} {
  if (flags.labelSelector !== undefined) {
    try {
      parseLabelSelector(flags.labelSelector);
    } catch (err) {
      if (err instanceof LabelSelectorError) throw new UsageError(`--label-selector: ${err.message}`);
      throw err;
    }
  }
  const listenFlag = flags.metricsAddr !== undefined ? '--metrics-addr' : '--listen';
  checkNamingFlags({}, () => {
    parseListen(listenAddress(flags), listenFlag);
    if (flags.probeListen !== undefined)
      checkProbeListen(listenAddress(flags), flags.probeListen, {
        listen: listenFlag,
        probeListen: '--probe-listen',
      });
  });
  if (!flags.leaderElect && !flags.sharding) return { election: undefined };
  const settings = {
    leaseName: flags.leaseLockName,
    leaseNamespace: flags.leaseLockNamespace ?? defaultLeaseNamespace(),
    leaseDurationMs: flags.leaderElectLeaseDuration,
    renewDeadlineMs: flags.leaderElectRenewDeadline,
    retryPeriodMs: flags.leaderElectRetryPeriod,
  };
  checkNamingFlags(
    {
      leaseDuration: '--leader-elect-lease-duration',
      renewDeadline: '--leader-elect-renew-deadline',
      retryPeriod: '--leader-elect-retry-period',
    },
    () => validateLeaderElectionOptions(settings),
  );
  checkNamingFlags(
    {
      'lease namespace': '--lease-lock-namespace',
      'lease name': '--lease-lock-name',
      'shard group': '--lease-lock-name',
    },
    () => {
      validateLeaseName(settings.leaseNamespace, settings.leaseName);
      if (flags.sharding) validateShardGroup(settings.leaseNamespace, settings.leaseName);
    },
  );
  if (flags.sharding)
    return {
      election: undefined,
      sharding: {
        group: settings.leaseName,
        namespace: settings.leaseNamespace,
        leaseDurationMs: settings.leaseDurationMs,
        renewDeadlineMs: settings.renewDeadlineMs,
        retryPeriodMs: settings.retryPeriodMs,
      },
    };
  return { election: settings };
}

async function runControllers(
  flags: ControllerFlags,
  controllers: readonly ControllerName[],
): Promise<number> {
  const { election, sharding } = checkFlags(flags);
  const kubeConfig = kubeConfigFromFlags(flags);
  const logger = loggerFrom(flags);
  const manager = new Manager({
    kubeConfig,
    controllers,
    features: featureRegistry,
    providers: providerRegistry,
    logger,
    workers: flags.workers,
    statusRefreshMs: flags.statusRefreshPeriod,
    ...(flags.metricPrefix !== undefined && { metricPrefix: flags.metricPrefix }),
    ...(election !== undefined && { leaderElection: election }),
    ...(sharding !== undefined && { sharding }),
    ...(flags.labelSelector !== undefined && { labelSelector: flags.labelSelector }),
    ...(flags.secretNamespaces !== undefined && { secretNamespaces: flags.secretNamespaces }),
  });
  try {
    await manager.start(listenAddress(flags), flags.probeListen);
  } catch (err) {
    logger.error({ err: errorMessage(err), address: listenAddress(flags) }, 'cannot listen');
    await manager.stop();
    return 1;
  }
  // A dead or hung API server must not hold a replica that was told to stop (its lease release, informer
  // and status writes all wait on it): the stop gets --shutdown-timeout, then the process exits anyway.
  const graceMs = flags.shutdownTimeout * 1000;
  const stop = (code: number): Promise<number> =>
    stopWithin(
      graceMs,
      () => manager.stop(),
      () => 'stopping the controllers',
      logger,
      code,
    );
  return new Promise<number>((resolve) => {
    let stopping = false;
    const removeSignals = onShutdownSignal(async (signal) => {
      stopping = true;
      logger.info({ signal }, 'shutting down');
      const code = await stop(0);
      removeSignals();
      if (code === 0) logger.info('stopped');
      resolve(code);
    });
    void manager.done().then(async (exit) => {
      if (stopping) return;
      if (exit === 'lost')
        logger.error('leader election lost: exiting so that this replica restarts as a standby');
      const code = await stop(exit === 'stopped' ? 0 : 1);
      removeSignals();
      resolve(code);
    });
  });
}
