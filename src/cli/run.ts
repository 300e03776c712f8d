import { Command, Option } from 'commander';
import { ConfigError, loadConfigFile, type LoadedConfig } from '../config/loader.ts';
import { Daemon } from '../daemon.ts';
import { featureRegistry } from '../features/index.ts';
import { errorMessage } from '../errors.ts';
import { addLogFlags, loggerFrom, metricPrefixOption, positiveInt, type LogFlags } from './common.ts';
import { onShutdownSignal } from './signals.ts';

export const DEFAULT_LISTEN = '0.0.0.0:9379';

interface RunFlags extends LogFlags {
  readonly config: string;
  readonly listen?: string;
  readonly checkConfig: boolean;
  readonly maxConcurrentRounds: number;
  readonly metricPrefix?: string;
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
    .addOption(metricPrefixOption());
  addLogFlags(cmd).action(async (flags: RunFlags) => done(await run(flags)));
  return cmd;
}

async function run(flags: RunFlags): Promise<number> {
  const logger = loggerFrom(flags);
  let config: LoadedConfig;
  try {
    config = await loadConfigFile(flags.config, featureRegistry);
  } catch (err) {
    process.stderr.write(`etcd-monitor: ${errorMessage(err)}\n`);
    return 2;
  }
  if (flags.checkConfig) {
    process.stdout.write(`config ${flags.config} is valid: ${config.clusters.length} cluster(s)\n`);
    return 0;
  }

  const metricPrefix = flags.metricPrefix ?? config.metricPrefix;
  const daemon = new Daemon({
    logger,
    registry: featureRegistry,
    maxConcurrentRounds: flags.maxConcurrentRounds,
    ...(metricPrefix !== undefined && { metricPrefix }),
  });
  await daemon.engine.apply(config.clusters);
  let address: string;
  try {
    address = await daemon.listen(flags.listen ?? config.listen ?? DEFAULT_LISTEN);
  } catch (err) {
    logger.error({ error: errorMessage(err) }, 'cannot listen');
    await daemon.close();
    return 1;
  }
  daemon.setReady(true);
  logger.info({ address, clusters: config.clusters.length, config: flags.config }, 'etcd-monitor running');

  // SIGHUP: a good file replaces the clusters (only what changed restarts); a bad one changes nothing.
  let reloading = Promise.resolve();
  const onHup = (): void => {
    reloading = reloading.then(async () => {
      try {
        const next = await loadConfigFile(flags.config, featureRegistry);
        await daemon.engine.apply(next.clusters);
        logger.info({ clusters: next.clusters.length }, 'config reloaded');
        if (flags.metricPrefix === undefined && (next.metricPrefix ?? '') !== (metricPrefix ?? ''))
          logger.warn(
            { metricPrefix: metricPrefix ?? '', inFile: next.metricPrefix ?? '' },
            'metricPrefix changed in the file: restart to rename the series (a reload keeps the names)',
          );
      } catch (err) {
        const message = err instanceof ConfigError ? err.message : errorMessage(err);
        logger.error({ error: message }, 'config reload failed; keeping the running config');
      }
    });
  };
  process.on('SIGHUP', onHup);

  return new Promise<number>((resolve) => {
    const removeSignals = onShutdownSignal(async (signal) => {
      logger.info({ signal }, 'shutting down');
      process.off('SIGHUP', onHup);
      await reloading;
      await daemon.close();
      removeSignals();
      logger.info('stopped');
      resolve(0);
    });
  });
}
