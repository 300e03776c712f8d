import { InvalidArgumentError, Option, type Command } from 'commander';
import { createLogger, type Logger, type LogFormat } from '../log.ts';

export interface LogFlags {
  readonly logLevel: string;
  readonly logFormat: LogFormat;
}

/** --log-level and --log-format, on every long-running command. */
export function addLogFlags(cmd: Command, defaultFormat: LogFormat = 'auto'): Command {
  return cmd
    .addOption(
      new Option('--log-level <level>', 'log level')
        .choices(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
        .default('info'),
    )
    .addOption(
      new Option('--log-format <format>', 'json, pretty, or auto (pretty on a terminal)')
        .choices(['json', 'pretty', 'auto'])
        .default(defaultFormat),
    );
}

export function loggerFrom(flags: LogFlags): Logger {
  return createLogger({ level: flags.logLevel, format: flags.logFormat });
}

/** Usage errors exit 2, like every well-behaved CLI. */
export class UsageError extends Error {
  override name = 'UsageError';
}

export function positiveInt(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer.`);
    return n;
  };
}

export function positiveSeconds(name: string): (value: string) => number {
  return (value: string) => {
    const n = Number(value.replace(/s$/, ''));
    if (!Number.isFinite(n) || n <= 0)
      throw new InvalidArgumentError(`${name} must be a positive number of seconds.`);
    return n;
  };
}
