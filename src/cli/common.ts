import { InvalidArgumentError, Option, type Command } from 'commander';
import { createLogger, type Logger, type LogFormat } from '../log.ts';
import { metricPrefixProblem } from '../metrics/catalogue.ts';

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

export { UsageError } from './usage.ts';

/** Upper bound of every count flag: beyond it a value is a typo, not a setting. */
export const MAX_COUNT = 1_000_000;
/** Upper bound of every duration flag (one day): also keeps timers within what Node can schedule. */
export const MAX_SECONDS = 86_400;

export function positiveInt(name: string, max = MAX_COUNT): (value: string) => number {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max)
      throw new InvalidArgumentError(`${name} must be an integer from 1 to ${max}.`);
    return n;
  };
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** A Go-style duration ("60s", "1m30s", "500ms") or a number of seconds, in ms. */
export function parseDuration(text: string): number | undefined {
  const value = text.trim();
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  if (!/^(\d+(\.\d+)?(ms|s|m|h))+$/.test(value)) return undefined;
  let total = 0;
  for (const [, n, unit] of value.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g))
    total += Number(n) * (UNITS[unit ?? 's'] ?? 1000);
  return total;
}

/** Seconds, or a Go duration as etcdctl takes them (--dial-timeout=2s). */
export function positiveSeconds(name: string): (value: string) => number {
  return (value: string) => {
    const ms = parseDuration(value);
    if (ms === undefined || !(ms > 0) || ms > MAX_SECONDS * 1000)
      throw new InvalidArgumentError(
        `${name} must be a positive duration up to ${MAX_SECONDS / 3600} h, such as 5, 5s, 500ms or 1m.`,
      );
    return ms / 1000;
  };
}

/** true/false (also 1/0, yes/no), as Go's flag package and etcdctl's environment variables take them. */
export function parseBool(name: string): (value: string) => boolean {
  return (value) => {
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    throw new InvalidArgumentError(`${name} takes true or false.`);
  };
}

/** --shutdown-timeout, shared by `run` and the controller commands. */
export function shutdownTimeoutOption(): Option {
  return new Option(
    '--shutdown-timeout <seconds>',
    'on SIGTERM/SIGINT, how long to wait for rounds and connections to close before exiting anyway',
  )
    .argParser(positiveSeconds('--shutdown-timeout'))
    .default(10);
}

/** --metric-prefix, shared by `run` and the controller commands. */
export function metricPrefixOption(): Option {
  return new Option(
    '--metric-prefix <prefix>',
    "put in front of every inspection metric name; kstone_ exports kstone's names (kstone_inspection_...)",
  ).argParser((value: string) => {
    const problem = metricPrefixProblem(value);
    if (problem !== undefined) throw new InvalidArgumentError(problem);
    return value;
  });
}

/** --probe-listen, named alike on `run`, `demo` and the controller commands. */
export function probeListenOption(defaultFrom = ''): Option {
  return new Option(
    '--probe-listen <host:port>',
    `also serve /healthz and /readyz (only those) on this address, from a thread of their own: probes never wait behind scrapes of --listen, nor count against its limits${defaultFrom}`,
  );
}
