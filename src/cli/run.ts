import { once } from 'node:events';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfigFile, type LoadedConfig } from '../config/loader.ts';
import { InspectionServer } from '../inspection-server.ts';
import { DEFAULT_SERVER_LIMITS } from '../server/app.ts';
import { checkProbeListen, parseListen } from '../server/listen.ts';
import { featureRegistry } from '../features/index.ts';
import { errorMessage } from '../errors.ts';
import { StaticShard, WHOLE, type Shard } from '../engine/shard.ts';
import type { ClusterSpec } from '../engine/cluster-spec.ts';
import {
  addLogFlags,
  loggerFrom,
  metricPrefixOption,
  probeListenOption,
  shutdownTimeoutOption,
  positiveInt,
  type LogFlags,
} from './common.ts';
import { onShutdownSignal, stopWithin } from './signals.ts';

export const DEFAULT_LISTEN = '0.0.0.0:9379';

interface RunFlags extends LogFlags {
  readonly config: string;
  readonly listen?: string;
  readonly probeListen?: string;
  readonly checkConfig: boolean;
  readonly maxConcurrentRounds: number;
  readonly metricPrefix?: string;
  readonly shutdownTimeout: number;
  readonly maxRequests: number;
  readonly maxConnections: number;
  readonly shard?: number;
  readonly totalShards?: number;
}

/**
 * This daemon's part of the clusters: --shard/--total-shards (both or
 * neither), else the file's `sharding:`, else all. Throws a message naming
 * the flag.
 */
export function daemonShard(flags: Pick<RunFlags, 'shard' | 'totalShards'>, config: LoadedConfig): Shard {
  if ((flags.shard === undefined) !== (flags.totalShards === undefined))
    throw new Error('--shard and --total-shards go together: give both or neither');
  if (flags.shard !== undefined && flags.totalShards !== undefined) {
    if (flags.shard >= flags.totalShards)
      throw new Error(
        `--shard ${flags.shard} is not a shard of --total-shards ${flags.totalShards} (use 0 to ${flags.totalShards - 1})`,
      );
    return new StaticShard(flags.shard, flags.totalShards);
  }
  if (config.sharding !== undefined)
    return new StaticShard(config.sharding.shard, config.sharding.totalShards);
  return WHOLE;
}

/**
 * The main and probe listeners' addresses: flags over the file, checked
 * (they parse, and do not collide); errors name the flag or field.
 */
function listenAddresses(
  flags: Pick<RunFlags, 'listen' | 'probeListen'>,
  config: LoadedConfig,
): { listen: string; probeListen?: { address: string; what: string } } {
  const listen = flags.listen ?? config.listen ?? DEFAULT_LISTEN;
  if (flags.listen !== undefined) parseListen(flags.listen);
  const address = flags.probeListen ?? config.probeListen;
  if (address === undefined) return { listen };
  const what = flags.probeListen !== undefined ? '--probe-listen' : 'probeListen:';
  checkProbeListen(listen, address, {
    listen: flags.listen !== undefined || config.listen === undefined ? '--listen' : 'listen:',
    probeListen: what,
  });
  return { listen, probeListen: { address, what } };
}

/** The clusters of the file this daemon inspects. */
function ownClusters(shard: Shard, clusters: readonly ClusterSpec[]): ClusterSpec[] {
  return clusters.filter((c) => shard.owns(c.id));
}

function shardIndex(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n >= 1000)
    throw new InvalidArgumentError('--shard must be an integer from 0 to 999.');
  return n;
}

export function runCommand(done: (code: number) => void): Command {
  const cmd = new Command('run')
    .description(
      'Run the standalone daemon: inspect every cluster of a YAML config file and serve /metrics (SIGHUP reloads the file).',
    )
    .requiredOption('-c, --config <file>', 'YAML config file (see docs/configuration.md)')
    .option(
      '--listen <host:port>',
      `address of the HTTP server (default: the file's "listen", else ${DEFAULT_LISTEN})`,
    )
    .addOption(probeListenOption(' (default: the file\'s "probeListen", else none)'))
    .option(
      '--check-config',
      'validate the config file (certificates and password files included) and exit',
      false,
    )
    .addOption(
      new Option('--max-concurrent-rounds <n>', 'inspection rounds running at once across all clusters')
        .argParser(positiveInt('--max-concurrent-rounds'))
        .default(64),
    )
    .addOption(metricPrefixOption())
    .addOption(shutdownTimeoutOption())
    .addOption(
      new Option(
        '--max-requests <n>',
        '/metrics, /api and status-page requests served at once; more are answered 503 at once',
      )
        .argParser(positiveInt('--max-requests'))
        .default(DEFAULT_SERVER_LIMITS.maxRequests),
    )
    .addOption(
      new Option('--max-connections <n>', 'open HTTP connections; more are closed on accept')
        .argParser(positiveInt('--max-connections'))
        .default(DEFAULT_SERVER_LIMITS.maxConnections),
    )
    .addOption(
      new Option(
        '--shard <i>',
        "inspect only shard I of --total-shards: the clusters of the file whose names hash to it (overrides the file's sharding)",
      ).argParser(shardIndex),
    )
    .addOption(
      new Option(
        '--total-shards <n>',
        'how many daemons share the clusters of the file (with --shard)',
      ).argParser(positiveInt('--total-shards', 1000)),
    );
  addLogFlags(cmd).action(async (flags: RunFlags) => done(await run(flags)));
  return cmd;
}

async function run(flags: RunFlags): Promise<number> {
  if (flags.checkConfig) return checkConfig(flags);
  const logger = loggerFrom(flags);
  // Handlers go in before anything else: a signal during start-up must not
  // kill the daemon silently (Node's default for SIGHUP is exit 129).
  const stop = new AbortController();
  let stopSignal: NodeJS.Signals | undefined;
  const removeShutdown = onShutdownSignal(async (signal) => {
    stopSignal = signal;
    stop.abort();
  });
  let reloadRequested = false;
  let onHup = (): void => {
    reloadRequested = true;
    logger.info('reload requested during start-up: applied once started');
  };
  const hup = (): void => onHup();
  process.on('SIGHUP', hup);
  const removeHandlers = (): void => {
    process.off('SIGHUP', hup);
    removeShutdown();
  };

  logger.info({ config: flags.config }, 'starting');
  let config: LoadedConfig;
  try {
    config = await loadConfigFile(flags.config, featureRegistry);
  } catch (err) {
    removeHandlers();
    process.stderr.write(`etcd-monitor: ${errorMessage(err)}\n`);
    return 2;
  }
  if (stop.signal.aborted) {
    removeHandlers();
    logger.info({ signal: stopSignal }, 'terminated during start-up; nothing was started');
    return 0;
  }
  let shard: Shard;
  let listen: string;
  let probeListen: { address: string; what: string } | undefined;
  try {
    ({ listen, probeListen } = listenAddresses(flags, config));
    shard = daemonShard(flags, config);
  } catch (err) {
    removeHandlers();
    process.stderr.write(`etcd-monitor: ${errorMessage(err)}\n`);
    return 2;
  }

  const metricPrefix = flags.metricPrefix ?? config.metricPrefix;
  const daemon = new InspectionServer({
    logger,
    registry: featureRegistry,
    maxConcurrentRounds: flags.maxConcurrentRounds,
    serverLimits: { maxRequests: flags.maxRequests, maxConnections: flags.maxConnections },
    ...(metricPrefix !== undefined && { metricPrefix }),
    shard,
  });
  await daemon.engine.apply(ownClusters(shard, config.clusters));
  if (shard !== WHOLE)
    logger.info(
      {
        shard: shard.describe().member,
        totalShards: shard.describe().members,
        clusters: daemon.engine.ids().length,
        inFile: config.clusters.length,
      },
      'sharding: inspecting the clusters of this shard only',
    );
  let code = 0;
  if (!stop.signal.aborted) {
    try {
      // Probes first: once /metrics answers, the probe listener answers too.
      const probeAddress =
        probeListen === undefined
          ? undefined
          : await daemon.listenProbes(probeListen.address, probeListen.what);
      const address = await daemon.listen(listen);
      daemon.setReady(true);
      logger.info(
        {
          address,
          ...(probeAddress !== undefined && { probeAddress }),
          clusters: daemon.engine.ids().length,
          config: flags.config,
        },
        'etcd-monitor running',
      );
    } catch (err) {
      logger.error({ err: errorMessage(err) }, 'cannot listen');
      code = 1;
      stop.abort();
    }
  }

  // SIGHUP: a good file replaces the clusters (only what changed restarts); a bad one changes nothing.
  let reloading = Promise.resolve();
  onHup = (): void => {
    reloading = reloading.then(async () => {
      if (stop.signal.aborted) return;
      try {
        const next = await loadConfigFile(flags.config, featureRegistry);
        if (stop.signal.aborted) return;
        const nextShard = daemonShard(flags, next);
        const { member, members } = nextShard.describe();
        if (member !== shard.describe().member || members !== shard.describe().members)
          logger.warn(
            { shard: member, totalShards: members },
            'sharding changed in the file: restart to apply it (a reload keeps the running shard)',
          );
        await daemon.engine.apply(ownClusters(shard, next.clusters));
        logger.info(
          { clusters: daemon.engine.ids().length, inFile: next.clusters.length },
          'config reloaded',
        );
        if (flags.metricPrefix === undefined && (next.metricPrefix ?? '') !== (metricPrefix ?? ''))
          logger.warn(
            { metricPrefix: metricPrefix ?? '', inFile: next.metricPrefix ?? '' },
            'metricPrefix changed in the file: restart to rename the series (a reload keeps the names)',
          );
      } catch (err) {
        const message = err instanceof ConfigError ? err.message : errorMessage(err);
        logger.error({ err: message }, 'config reload failed; keeping the running config');
      }
    });
  };
  if (reloadRequested) onHup();

  if (!stop.signal.aborted) await once(stop.signal, 'abort');
  if (stopSignal !== undefined) logger.info({ signal: stopSignal }, 'shutting down');
  process.off('SIGHUP', hup);
  const exitCode = await stopWithin(
    flags.shutdownTimeout * 1000,
    async () => {
      await reloading;
      await daemon.close();
    },
    () => daemon.closing,
    logger,
    code,
    () => logger.info('stopped'),
  );
  removeShutdown();
  return exitCode;
}

async function checkConfig(flags: RunFlags): Promise<number> {
  try {
    const config = await loadConfigFile(flags.config, featureRegistry);
    // The flags given with it too: what run would refuse, this refuses.
    listenAddresses(flags, config);
    daemonShard(flags, config);
    process.stdout.write(`config ${flags.config} is valid: ${config.clusters.length} cluster(s)\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`etcd-monitor: ${errorMessage(err)}\n`);
    return 2;
  }
}
