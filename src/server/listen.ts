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
