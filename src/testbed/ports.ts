/** Free TCP ports on 127.0.0.1, found by binding port 0. */
import { createServer } from 'node:net';

// Ports handed out by this process: never hand one out twice, even when the
// kernel offers it again before the first user has bound it.
const handedOut = new Set<number>();

function bindZero(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => (port > 0 ? resolve(port) : reject(new Error('could not read the bound port'))));
    });
  });
}

/**
 * A port that was free a moment ago. Someone else may still take it before
 * it is used; callers that start servers on it must retry on EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await bindZero();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error('no free port found on 127.0.0.1');
}

/** A server exited because a port it was given was taken by someone else since freePort(). */
export class PortInUseError extends Error {}

/** The error for a server that exited with this log tail: PortInUseError when it could not bind. */
export function exitError(message: string, logTail: string): Error {
  return /address already in use/i.test(logTail) ? new PortInUseError(message) : new Error(message);
}

const PORT_RACE_ATTEMPTS = 3;

/**
 * Runs start (which picks fresh ports each time and cleans up after itself
 * when it fails) until it does not lose the race for its ports: freePort()
 * can only say a port was free. A failure other than PortInUseError, or the
 * third lost race, is thrown.
 */
export async function retryPortRace<T>(what: string, start: (attempt: number) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start(attempt);
    } catch (err) {
      if (!(err instanceof PortInUseError)) throw err;
      if (attempt >= PORT_RACE_ATTEMPTS)
        throw new Error(
          `${what} could not bind its ports in ${attempt} attempts; last failure: ${err.message}`,
          {
            cause: err,
          },
        );
    }
  }
}
