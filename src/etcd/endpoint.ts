import { redactUserinfo } from '../errors.ts';

export { redactUserinfo };
/** A parsed etcd client endpoint, such as https://10.0.0.1:2379. */
export interface Endpoint {
  /** Normalised URL without path: scheme://host:port */
  readonly url: string;
  readonly scheme: 'http' | 'https';
  /** Host name or IP; IPv6 without brackets. */
  readonly host: string;
  readonly port: number;
  /** host:port (IPv6 in brackets): the `endpoint` label of every metric. */
  readonly hostPort: string;
}

export class EndpointError extends Error {
  override name = 'EndpointError';
}

const SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/** The same text without its user info (for a suggested fix). */
function withoutUserinfo(text: string): string {
  return redactUserinfo(text).replace('[REDACTED]@', '');
}

/**
 * Parses an etcd client URL. A scheme and a port are required: guessing them
 * hides configuration mistakes (etcd listens on 2379 by convention only).
 * `unix://` and `unixs://` endpoints are not supported. User info is
 * refused, and redacted before any other check: no message repeats it.
 */
export function parseEndpoint(raw: string): Endpoint {
  const input = raw.trim();
  if (input === '') throw new EndpointError('endpoint is empty');
  const text = redactUserinfo(input);
  if (text !== input) {
    const bare = withoutUserinfo(input);
    const fix = SCHEME.test(bare) ? bare : `http://${bare} or https://${bare}`;
    throw new EndpointError(
      `endpoint "${text}" carries credentials in the URL: write ${fix} and give the user and password in the auth settings`,
    );
  }
  if (!SCHEME.test(text)) {
    throw new EndpointError(`endpoint "${text}" has no scheme: write http://${text} or https://${text}`);
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new EndpointError(`endpoint "${text}" is not a valid URL`);
  }
  const scheme = url.protocol.slice(0, -1);
  if (scheme !== 'http' && scheme !== 'https') {
    throw new EndpointError(`endpoint "${text}" has scheme "${scheme}": only http and https are supported`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new EndpointError(
      `endpoint "${url.host}" carries credentials in the URL: give the user and password in the auth settings`,
    );
  }
  if (url.hostname === '') throw new EndpointError(`endpoint "${text}" has no host`);
  if (url.port === '') {
    throw new EndpointError(`endpoint "${text}" has no port: write ${scheme}://${url.hostname}:2379`);
  }
  if (url.port === '0') {
    throw new EndpointError(`endpoint "${text}" has port 0: give the member's client port (2379 by default)`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new EndpointError(`endpoint "${text}" has a path or query: give only scheme://host:port`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port);
  const hostPort = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { url: `${scheme}://${hostPort}`, scheme, host, port, hostPort };
}
