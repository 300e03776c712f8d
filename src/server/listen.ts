/**
 * "HOST:PORT" -> listen options; clear errors for anything else. `what`
 * names where the value came from (the --listen flag, or the config file's
 * "listen" field), so --check-config and run report the same problem.
 */
export function parseListen(listen: string, what = '--listen'): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(listen);
  const port = m === null ? NaN : Number(m[3]);
  if (m === null || !(port >= 0 && port <= 65535))
    throw new Error(`${what} "${listen}" is not HOST:PORT with a port from 0 to 65535 (e.g. 127.0.0.1:8080)`);
  const host = m[1] ?? m[2] ?? '';
  return { host: host === '' ? '0.0.0.0' : host, port };
}

const WILDCARD = new Set(['0.0.0.0', '::', '[::]']);

/**
 * Throws if the probe listener's address would collide with the main
 * listener's (same port on the same or a wildcard host; port 0 picks a
 * free one and never collides). Both must already parse; `what` names their
 * flags or fields.
 */
export function checkProbeListen(
  listen: string,
  probeListen: string,
  what = { listen: '--listen', probeListen: '--probe-listen' },
): void {
  const main = parseListen(listen, what.listen);
  const probe = parseListen(probeListen, what.probeListen);
  if (main.port === 0 || main.port !== probe.port) return;
  if (main.host === probe.host || WILDCARD.has(main.host) || WILDCARD.has(probe.host))
    throw new Error(
      `${what.probeListen} "${probeListen}" takes the port of ${what.listen} "${listen}": give the probes a port of their own (e.g. ${probe.host.includes(':') ? `[${probe.host}]` : probe.host}:${main.port === 65535 ? main.port - 1 : main.port + 1})`,
    );
}
