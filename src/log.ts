import { createRequire } from 'node:module';
import type * as Pino from 'pino';

/**
 * What the code asks of a logger: pino's loggers (the daemon's, the
 * controllers') and the silent one below. Narrower than pino's own type so
 * that a one-shot command can log nothing without loading pino (~30
 * files from node_modules, ~20 ms of inspect's start-up). It keeps what
 * fastify needs of a logger instance.
 */
export interface Logger {
  level: string;
  fatal: Pino.LogFn;
  error: Pino.LogFn;
  warn: Pino.LogFn;
  info: Pino.LogFn;
  debug: Pino.LogFn;
  trace: Pino.LogFn;
  silent: Pino.LogFn;
  child(bindings: Pino.Bindings, options?: Pino.ChildLoggerOptions): Logger;
  flush(cb?: (err?: Error) => void): void;
}
export type LogFormat = 'json' | 'pretty' | 'auto';

let pinoModule: typeof Pino | undefined;

/** pino, loaded the first time a real logger is made. */
function pinoLib(): typeof Pino.pino {
  pinoModule ??= createRequire(import.meta.url)('pino') as typeof Pino;
  return pinoModule.pino;
}

export interface LoggerOptions {
  readonly level?: string;
  readonly format?: LogFormat;
  readonly destination?: NodeJS.WritableStream;
}

/**
 * Credentials are Secret objects that print as [REDACTED]; the redact paths
 * are a second line of defence for anything that slips in as a plain string.
 */
const REDACT_PATHS = [
  'password',
  '*.password',
  '*.*.password',
  'token',
  '*.token',
  'key',
  '*.key',
  'tls.key',
  '*.tls.key',
  'authorization',
  '*.authorization',
  'headers.authorization',
];

/** Structured logs: JSON by default, human-readable on a terminal ("auto") or when asked. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const pino = pinoLib();
  const format = opts.format ?? 'json';
  const pretty = format === 'pretty' || (format === 'auto' && process.stderr.isTTY === true);
  const base = {
    level: opts.level ?? 'info',
    redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  if (opts.destination !== undefined) return pino(base, opts.destination);
  if (pretty && !prettyInstalled()) {
    // The image leaves the optional pino-pretty out: JSON, said once.
    if (format === 'pretty')
      process.stderr.write(
        'etcd-monitor: --log-format pretty needs pino-pretty (not installed): logging JSON\n',
      );
  } else if (pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: {
          destination: 2,
          colorize: useColor(process.stderr),
          translateTime: 'SYS:HH:MM:ss',
          ignore: 'pid,hostname',
        },
      },
    });
  }
  return pino(base, pino.destination({ dest: 2, sync: false }));
}

/** pino-pretty is an optional dependency (the image does without it). */
function prettyInstalled(): boolean {
  try {
    createRequire(import.meta.url).resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/**
 * Colour on a terminal, off when NO_COLOR is set to anything but "" (no-color.org);
 * FORCE_COLOR (as Node and most tools read it) turns it on elsewhere.
 */
export function useColor(stream: { readonly isTTY?: boolean }): boolean {
  const noColor = process.env['NO_COLOR'];
  if (noColor !== undefined && noColor !== '') return false;
  const force = process.env['FORCE_COLOR'];
  if (force !== undefined) return force !== '0' && force !== 'false';
  return stream.isTTY === true;
}

/** A logger that drops everything, for tests and one-shot commands; loads nothing. */
export function silentLogger(): Logger {
  return SILENT;
}

const drop: Pino.LogFn = () => {};

const SILENT: Logger = {
  level: 'silent',
  fatal: drop,
  error: drop,
  warn: drop,
  info: drop,
  debug: drop,
  trace: drop,
  silent: drop,
  child: () => SILENT,
  flush: (cb) => cb?.(),
};
