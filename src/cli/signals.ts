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
