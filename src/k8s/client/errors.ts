/**
 * Errors of the client layer. KubeApiError carries the apiserver's Status
 * (code, reason, message), so that callers branch on isNotFound / isConflict
 * / isExpired / isForbidden and users read what the server said, e.g.
 *   list etcdclusters.etcdmonitor.dev in namespace ops: 403 Forbidden:
 *   etcdclusters.etcdmonitor.dev is forbidden: User "system:serviceaccount:..." cannot list ...
 */
import type { Problem } from '../api/validate.ts';
import { isRecord } from '../api/json.ts';

export interface StatusCause {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
}

export class KubeApiError extends Error {
  override name = 'KubeApiError';
  /** HTTP status code (or the code of a watch ERROR event). */
  readonly code: number;
  /** The Status reason: NotFound, AlreadyExists, Conflict, Forbidden, Unauthorized, Invalid, Expired, Gone, TooManyRequests, ...; '' when unknown. */
  readonly reason: string;
  /** The server's message alone. */
  readonly serverMessage: string;
  readonly causes: readonly StatusCause[];
  /** From Retry-After or the Status details, when the server asked for one. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    what: string,
    code: number,
    reason: string,
    serverMessage: string,
    causes: readonly StatusCause[] = [],
    retryAfterSeconds?: number,
  ) {
    const head = `${what}: ${code}${reason !== '' ? ` ${reason}` : ''}`;
    super(serverMessage !== '' ? `${head}: ${serverMessage}` : head);
    this.code = code;
    this.reason = reason;
    this.serverMessage = serverMessage;
    this.causes = causes;
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

/** The server could not be reached or the exchange broke (no Status to tell more). */
export class KubeTransportError extends Error {
  override name = 'KubeTransportError';
}

/** An object from the API does not match its schema. */
export class KubeDecodeError extends Error {
  override name = 'KubeDecodeError';
  readonly problems: readonly Problem[];
  constructor(what: string, problems: readonly Problem[]) {
    super(`${what} does not match its schema: ${problems.map((p) => `${p.field}: ${p.message}`).join('; ')}`);
    this.problems = problems;
  }
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Gone',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A KubeApiError from an HTTP status and the body (a metav1.Status when the server wrote one). */
export function apiErrorFrom(
  what: string,
  code: number,
  body: unknown,
  retryAfterHeader?: string | null,
): KubeApiError {
  let reason = '';
  let message = '';
  let causes: StatusCause[] = [];
  let retryAfter: number | undefined;
  if (isRecord(body) && body['kind'] === 'Status') {
    if (typeof body['reason'] === 'string') reason = body['reason'];
    if (typeof body['message'] === 'string') message = body['message'];
    if (typeof body['code'] === 'number' && body['code'] > 0) code = body['code'];
    const details = body['details'];
    if (isRecord(details)) {
      if (Array.isArray(details['causes'])) {
        causes = details['causes'].filter(isRecord).map((c) => ({
          ...(typeof c['reason'] === 'string' && { reason: c['reason'] }),
          ...(typeof c['message'] === 'string' && { message: c['message'] }),
          ...(typeof c['field'] === 'string' && { field: c['field'] }),
        }));
      }
      if (typeof details['retryAfterSeconds'] === 'number') retryAfter = details['retryAfterSeconds'];
    }
  } else if (typeof body === 'string') {
    message = body.trim().slice(0, 500);
  }
  if (reason === '') reason = REASONS[code] ?? '';
  if (retryAfter === undefined && retryAfterHeader) {
    const seconds = Number(retryAfterHeader);
    if (Number.isFinite(seconds) && seconds >= 0) retryAfter = seconds;
  }
  if (code === 401 && message === '')
    message = 'the credentials were not accepted (missing, invalid or expired token or certificate)';
  return new KubeApiError(what, code, reason, message, causes, retryAfter);
}

function apiError(err: unknown): KubeApiError | undefined {
  return err instanceof KubeApiError ? err : undefined;
}

export const isNotFound = (err: unknown): boolean => apiError(err)?.code === 404;
export const isAlreadyExists = (err: unknown): boolean =>
  apiError(err)?.code === 409 && apiError(err)?.reason === 'AlreadyExists';
/** 409 Conflict: the resourceVersion was stale (optimistic concurrency). */
export const isConflict = (err: unknown): boolean =>
  apiError(err)?.code === 409 && apiError(err)?.reason !== 'AlreadyExists';
export const isForbidden = (err: unknown): boolean => apiError(err)?.code === 403;
export const isUnauthorized = (err: unknown): boolean => apiError(err)?.code === 401;
export const isInvalid = (err: unknown): boolean => apiError(err)?.code === 422;

/**
 * The resourceVersion asked for is older than the server keeps: 410 Gone /
 * Expired, or the "too old resource version" message some paths send with
 * another code. The only cure is a fresh list.
 */
export function isExpired(err: unknown): boolean {
  const e = apiError(err);
  if (e === undefined) return false;
  return (
    e.code === 410 ||
    e.reason === 'Expired' ||
    e.reason === 'Gone' ||
    /too old resource version|resourceVersion for the provided (watch|list) is too old/i.test(e.serverMessage)
  );
}

/** Worth retrying later: the server or the network had a problem, not the request. */
export function isTransient(err: unknown): boolean {
  if (err instanceof KubeTransportError) return true;
  const e = apiError(err);
  return e !== undefined && (e.code === 429 || e.code >= 500);
}
