import { errorMessage } from '../errors.ts';
import type { Logger } from '../log.ts';

/**
 * First SIGINT/SIGTERM: graceful shutdown (handler runs once). A second
 * signal while that is under way exits at once. Returns a function that
 * removes the handlers.
 */
export function onShutdownSignal(handler: (signal: NodeJS.Signals) => Promise<void>): () => void {
  let shuttingDown = false;
  const listener = (signal: NodeJS.Signals): void => {
    if (shuttingDown) {
      process.stderr.write(`received ${signal} again: exiting now\n`);
      process.exit(signal === 'SIGINT' ? 130 : 143);
    }
    shuttingDown = true;
    void handler(signal);
  };
  process.on('SIGINT', listener);
  process.on('SIGTERM', listener);
  return () => {
    process.off('SIGINT', listener);
    process.off('SIGTERM', listener);
  };
}

/** What keeps the event loop alive, counted by kind ("2 TCPSocketWrap, 1 Timeout"); '' when nothing does. */
export function openResources(): string {
  const counts = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return [...counts].map(([kind, n]) => `${n} ${kind}`).join(', ');
}

/**
 * Runs a graceful close, but never waits longer than graceMs: a peer that
 * never answers must not hold the process. Returns true when the close
 * finished in time; otherwise logs what was still open (`pending()` names
 * the step, e.g. "stopping cluster prod-a") and returns false.
 */
export async function closeWithin(
  graceMs: number,
  close: () => Promise<void>,
  pending: () => string,
  logger: Logger,
): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), graceMs);
  });
  const finished = close().then(
    () => true as const,
    (err: unknown) => {
      logger.error({ err: errorMessage(err) }, 'shutdown step failed');
      return true as const;
    },
  );
  const inTime = await Promise.race([finished, expired]);
  clearTimeout(timer);
  if (!inTime) {
    logger.error(
      { graceSeconds: graceMs / 1000, stillOpen: pending(), resources: openResources() },
      `shutdown did not finish within ${graceMs / 1000} s; exiting anyway`,
    );
  }
  return inTime;
}

/**
 * Once a command has finished, the process must end: anything still open
 * (a socket stuck in a handshake the OS has not given up on yet) gets
 * graceMs, then the process exits anyway, saying what was left. The timer
 * is unref'd, so a process that drains normally exits at once.
 */
export function exitAfter(graceMs: number, code: number, logger?: Logger): void {
  const timer = setTimeout(() => {
    const message = `still open ${graceMs / 1000} s after the command finished (${openResources()}); exiting`;
    if (logger !== undefined) logger.warn({ resources: openResources() }, message);
    else process.stderr.write(`etcd-monitor: ${message}\n`);
    exitFlushed(code, logger);
  }, graceMs);
  timer.unref();
}

/**
 * A long-running command's end after SIGTERM: closeWithin(graceMs), then
 * exit 1 at once (flushed) when the close overran, else exitAfter(graceMs,
 * code). `stopped` runs only after a close that finished in time. Returns the
 * exit code.
 */
export async function stopWithin(
  graceMs: number,
  close: () => Promise<void>,
  pending: () => string,
  logger: Logger,
  code: number,
  stopped: () => void = () => {},
): Promise<number> {
  if (!(await closeWithin(graceMs, close, pending, logger))) {
    exitFlushed(1, logger);
    return 1;
  }
  stopped();
  exitAfter(graceMs, code, logger);
  return code;
}

/** process.exit after the logger has written what it buffered (bounded: a stuck stderr does not hold it). */
export function exitFlushed(code: number, logger?: Logger): void {
  const exit = (): never => process.exit(code);
  setTimeout(exit, 1000).unref();
  if (logger === undefined) exit();
  else logger.flush(() => exit());
}
