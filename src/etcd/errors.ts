/**
 * Shared helpers to turn low-level failures (gRPC statuses, socket and TLS
 * errors) into EtcdError codes with a readable message, without ever letting
 * a credential through.
 */
import { EtcdError, type ClientOptions, type EtcdErrorCode } from './types.ts';

// Patterns of etcd's own error strings (rpctypes), stable across 3.4 .. 3.6.
const COMPACTED = /required revision has been compacted/i;
const FUTURE_REVISION = /required revision is a future revision/i;
/** Token problems that a fresh Authenticate fixes. */
const TOKEN_INVALID = /invalid auth token|revision of auth store is old|user name is empty/i;
const AUTH =
  /authentication failed|permission denied|user name is empty|invalid auth token|revision of auth store is old|auth.*not enabled|invalid user ID or password|unauthenticated/i;

/**
 * Certificate and handshake failures. Node reports them with OpenSSL codes
 * and texts; grpc-js wraps them in UNAVAILABLE "No connection established".
 */
const TLS_TEXT =
  /certificate|self[- ]signed|unable to (get|verify)|\bSSL\b|\bTLS\b|handshake|altnames|\bCERT_|ERR_SSL|ERR_TLS|wrong version number|alert|EPROTO|unknown ca|bad decrypt|no suitable signature/i;

/** Node error codes that mean a TLS problem. */
const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
  'ERR_SSL_WRONG_VERSION_NUMBER',
]);

const FRIENDLY_ERRNO: ReadonlyArray<readonly [RegExp, string]> = [
  [/ECONNREFUSED/, 'connection refused'],
  [/ENOTFOUND|EAI_AGAIN|EAI_NONAME/, 'cannot resolve host'],
  [/EHOSTUNREACH|ENETUNREACH|EHOSTDOWN/, 'host unreachable'],
  [/ETIMEDOUT/, 'connection timed out'],
  [/ECONNRESET|EPIPE/, 'connection reset'],
];

/**
 * What a member that speaks the other scheme does to a fresh connection,
 * as measured on etcd 3.4-3.6: a TLS member closes a plaintext connection
 * without a word (gRPC: "connection closed before it was established";
 * HTTP: "socket hang up", ECONNRESET); a plaintext member closes on the TLS
 * ClientHello ("socket disconnected before secure TLS connection was
 * established"), and a plaintext server that answers makes OpenSSL report
 * "wrong version number".
 */
const PLAINTEXT_TO_TLS =
  /connection closed before it was established|socket hang up|ECONNRESET|HTTP request to an HTTPS server/i;
const TLS_TO_PLAINTEXT =
  /wrong version number|packet length too long|disconnected before secure TLS connection was established|unknown protocol/i;

/**
 * A hint for a fresh connection the member ended at once ('' when none
 * applies): the endpoint's scheme is probably not what the member serves.
 * `secure`: the connection used TLS (an https:// endpoint).
 */
export function schemeHint(detail: string, secure: boolean): string {
  if (secure) return TLS_TO_PLAINTEXT.test(detail) ? ' (is this member serving plain HTTP? use http://)' : '';
  return PLAINTEXT_TO_TLS.test(detail) ? ' (is this member serving TLS? use https:// and --cacert)' : '';
}

export function isCompactedText(text: string): boolean {
  return COMPACTED.test(text);
}

export function isTokenInvalidText(text: string): boolean {
  return TOKEN_INVALID.test(text);
}

export function isAuthText(text: string): boolean {
  return AUTH.test(text);
}

export function isTlsText(text: string): boolean {
  return TLS_TEXT.test(text);
}

export function isTlsErrorCode(code: string): boolean {
  return TLS_CODES.has(code) || code.startsWith('ERR_SSL_') || code.startsWith('ERR_TLS_');
}

/** A short human phrase for common socket errors ('' when none applies). */
export function friendlyNetworkText(text: string): string {
  for (const [re, phrase] of FRIENDLY_ERRNO) if (re.test(text)) return phrase;
  return '';
}

/** gRPC status codes (numbers are fixed by the gRPC spec). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/**
 * Classifies a gRPC status. etcd's own message decides first (its codes are
 * reused for several errors: OUT_OF_RANGE is both compacted and future
 * revision); transport codes after.
 */
export function classifyGrpcStatus(code: number, details: string): EtcdErrorCode {
  if (COMPACTED.test(details)) return 'compacted';
  if (FUTURE_REVISION.test(details)) return 'future_revision';
  if (code === GrpcCode.UNAUTHENTICATED || code === GrpcCode.PERMISSION_DENIED) return 'auth';
  if (AUTH.test(details) && !/auth.*not enabled/i.test(details)) return 'auth';
  switch (code) {
    case GrpcCode.CANCELLED:
      return 'canceled';
    case GrpcCode.DEADLINE_EXCEEDED:
      return 'timeout';
    case GrpcCode.UNAVAILABLE:
      return TLS_TEXT.test(details) ? 'tls' : 'unavailable';
    case GrpcCode.UNIMPLEMENTED:
      return 'unsupported';
    case GrpcCode.NOT_FOUND:
      return 'not_found';
    case GrpcCode.INTERNAL:
      // grpc-js reports an HTTP/1 or plain-text answer (TLS mismatch) as INTERNAL/UNAVAILABLE protocol errors.
      return TLS_TEXT.test(details) ? 'tls' : 'unknown';
    default:
      return 'unknown';
  }
}

/**
 * Shortens grpc-js connection-failure details: drops timestamps, the empty
 * "Resolution note", "Error: " prefixes and OpenSSL's file/line noise, keeping
 * the reason ("connect ECONNREFUSED 127.0.0.1:2379", "unable to verify the
 * first certificate", "tlsv13 alert certificate required").
 */
export function cleanGrpcDetails(details: string): string {
  return details
    .replace(/\s*\(\d{4}-\d\d-\d\dT[\d:.]+Z\)/g, '')
    .replace(/\.?\s*Resolution note:\s*$/, '')
    .replace(/Last error: (?:Error(?: \[[A-Z_]+\])?: )+/, 'Last error: ')
    .replace(/[0-9A-F]{8,}:error:[0-9A-F]+:SSL routines:[^:]*:([^:]+):\S*?:\d+:/g, '$1: ')
    .replace(/; if the root CA is installed locally, try running Node\.js with --use-system-ca/, '')
    .replace(/\s+/g, ' ')
    .trim();
}

/** Removes every occurrence of the given secrets from a text (empty secrets are ignored). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of secrets) if (s.length > 0) out = out.split(s).join('[REDACTED]');
  return out;
}

/** What of a client's settings must never reach a message: the password and the TLS key. */
export function clientSecrets(options: Pick<ClientOptions, 'auth' | 'tls'>): string[] {
  return [options.auth?.password.reveal() ?? '', options.tls?.key?.reveal() ?? ''];
}

/**
 * The error of a call to one member, as both clients (v3 and HTTP) make it:
 * "CALL on HOST:PORT: DETAIL", the detail scrubbed of the given secrets.
 */
export function memberError(
  endpoint: string,
  secrets: readonly string[],
  code: EtcdErrorCode,
  call: string,
  detail: string,
  cause?: unknown,
): EtcdError {
  return new EtcdError(
    code,
    endpoint,
    call,
    scrub(detail, secrets),
    cause === undefined ? undefined : { cause },
  );
}
