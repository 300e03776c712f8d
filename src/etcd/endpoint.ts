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

/**
 * Parses an etcd client URL. A scheme and a port are required: guessing them
 * hides configuration mistakes (etcd listens on 2379 by convention only).
 * `unix://` and `unixs://` endpoints are not supported.
 */
export function parseEndpoint(raw: string): Endpoint {
  const text = raw.trim();
  if (text === '') throw new EndpointError('endpoint is empty');
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
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
      `endpoint "${url.host}" carries credentials in the URL: use the auth settings instead`,
    );
  }
  if (url.hostname === '') throw new EndpointError(`endpoint "${text}" has no host`);
  if (url.port === '') {
    throw new EndpointError(`endpoint "${text}" has no port: write ${scheme}://${url.hostname}:2379`);
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new EndpointError(`endpoint "${text}" has a path or query: give only scheme://host:port`);
  }
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = Number(url.port);
  const hostPort = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return { url: `${scheme}://${hostPort}`, scheme, host, port, hostPort };
}
