/**
 * The credentials of each request, from a RestConfig: a static token or
 * basic auth, a token file re-read every minute (bound ServiceAccount
 * tokens rotate), or an exec plugin run on demand and cached until its
 * expirationTimestamp (or until the server answers 401). An exec plugin may
 * also return a client certificate, which the transport dials with.
 */
import { execFile, type ExecFileException } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import type { Credentials, ExecPlugin, RestConfig } from './kubeconfig.ts';
import { errorMessage } from '../../errors.ts';
import { isRecord } from '../api/json.ts';

/** What a request carries: an Authorization header and, from an exec plugin, a client certificate. */
export interface RequestAuth {
  readonly authorization: string | undefined;
  readonly clientCert: { readonly cert: string; readonly key: string } | undefined;
}

const TOKEN_FILE_TTL_MS = 60_000;
/** A credential that expires within this margin is renewed before use. */
const EXPIRY_MARGIN_MS = 10_000;
const EXEC_TIMEOUT_MS = 60_000;
const MAX_EXEC_OUTPUT = 1 << 20;

export class CredentialError extends Error {
  override name = 'CredentialError';
}

interface Cached {
  readonly auth: RequestAuth;
  /** Date.now() after which it is fetched again. */
  readonly until: number;
}

/**
 * Why the plugin failed, in words that quote none of its output: its error
 * output may hold a token or a password (and Node's own message repeats it
 * with the command's arguments), so it says what happened and how to see
 * the output by hand.
 */
function execFailure(err: ExecFileException, stderrLength: number, installHint: string | undefined): string {
  if (err.code === 'ENOENT')
    return `was not found: install it or fix the kubeconfig's user.exec.command${installHint !== undefined ? `\n${installHint}` : ''}`;
  if (err.code === 'EACCES') return 'cannot be run (permission denied): make it executable';
  if (err.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER')
    return `printed more than ${MAX_EXEC_OUTPUT} bytes: that is not an ExecCredential`;
  const how =
    err.killed === true && err.signal === 'SIGTERM'
      ? `did not finish within ${EXEC_TIMEOUT_MS / 1000} s and was stopped`
      : typeof err.code === 'number'
        ? `failed: exit code ${err.code}`
        : err.signal !== null && err.signal !== undefined
          ? `failed: killed by ${err.signal}`
          : `failed (${err.code ?? 'no exit code'})`;
  const output =
    stderrLength > 0
      ? `its error output (${stderrLength} characters) is not shown, as it may hold credentials`
      : 'it wrote no error output';
  return `${how}; ${output}: run the kubeconfig's user.exec command by hand, with the same environment, to see why`;
}

/** Runs the plugin (client.authentication.k8s.io ExecCredential protocol) and reads its answer. */
async function runExec(exec: ExecPlugin, config: RestConfig): Promise<Cached> {
  const cluster = {
    server: config.server,
    ...(config.tls.ca !== undefined && {
      'certificate-authority-data': Buffer.from(config.tls.ca).toString('base64'),
    }),
    ...(config.tls.insecureSkipTLSVerify === true && { 'insecure-skip-tls-verify': true }),
    ...(config.tls.serverName !== undefined && { 'tls-server-name': config.tls.serverName }),
  };
  const info = {
    apiVersion: exec.apiVersion,
    kind: 'ExecCredential',
    spec: { interactive: false, ...(exec.provideClusterInfo && { cluster }) },
  };
  const what = `exec credential plugin ${exec.command}`;
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      exec.command,
      [...exec.args],
      {
        env: { ...process.env, ...exec.env, KUBERNETES_EXEC_INFO: JSON.stringify(info) },
        timeout: EXEC_TIMEOUT_MS,
        maxBuffer: MAX_EXEC_OUTPUT,
      },
      (err, out, stderr) => {
        if (err === null) return resolve(out);
        reject(new CredentialError(`${what} ${execFailure(err, stderr.length, exec.installHint)}`));
      },
    );
  });
  let answer: unknown;
  try {
    answer = JSON.parse(stdout);
  } catch {
    throw new CredentialError(`${what}: its output is not JSON (an ExecCredential is expected)`);
  }
  const status = isRecord(answer) ? answer['status'] : undefined;
  if (!isRecord(answer) || answer['kind'] !== 'ExecCredential' || !isRecord(status))
    throw new CredentialError(`${what}: its output is not an ExecCredential with a status`);
  const token = typeof status['token'] === 'string' && status['token'] !== '' ? status['token'] : undefined;
  const cert = status['clientCertificateData'];
  const key = status['clientKeyData'];
  const hasCert = typeof cert === 'string' && cert !== '' && typeof key === 'string' && key !== '';
  if (token === undefined && !hasCert)
    throw new CredentialError(
      `${what}: the ExecCredential has neither a token nor a client certificate and key`,
    );
  const expires =
    typeof status['expirationTimestamp'] === 'string' ? Date.parse(status['expirationTimestamp']) : NaN;
  return {
    auth: {
      authorization: token !== undefined ? `Bearer ${token}` : undefined,
      clientCert: hasCert ? { cert, key } : undefined,
    },
    until: Number.isNaN(expires) ? Infinity : expires - EXPIRY_MARGIN_MS,
  };
}

/** What an HTTP header value may hold (RFC 9110 field-value: visible Latin-1, spaces and tabs). */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Where credentials come from, in words (never their value). */
function describe(c: Credentials): string {
  switch (c.type) {
    case 'none':
      return 'anonymous access';
    case 'token':
      return "kubeconfig user's token";
    case 'basic':
      return "kubeconfig user's username or password";
    case 'tokenFile':
      return `token in ${c.file}`;
    case 'exec':
      return `token the exec credential plugin ${c.exec.command} printed`;
  }
}

export class RequestCredentials {
  readonly #credentials: Credentials;
  readonly #config: RestConfig;
  #cached: Cached | undefined;
  /** One exec run or token file read at a time; concurrent requests wait for it. */
  #pending: Promise<Cached> | undefined;

  constructor(config: RestConfig) {
    this.#config = config;
    this.#credentials = config.credentials;
  }

  /**
   * The credentials for the next request. One that cannot be an HTTP header
   * (a line break in a token, say) is refused here, naming where it came
   * from: the HTTP layer's own error would quote the whole value.
   */
  async get(): Promise<RequestAuth> {
    const auth = await this.#get();
    if (auth.authorization !== undefined && !HEADER_VALUE.test(auth.authorization))
      throw new CredentialError(
        `the ${describe(this.#credentials)} holds characters an HTTP header cannot carry (a line break or control character, or a non-Latin-1 letter): fix it where it is written`,
      );
    return auth;
  }

  async #get(): Promise<RequestAuth> {
    const c = this.#credentials;
    switch (c.type) {
      case 'none':
        return { authorization: undefined, clientCert: undefined };
      case 'token':
        return { authorization: `Bearer ${c.token}`, clientCert: undefined };
      case 'basic':
        return {
          authorization: `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`,
          clientCert: undefined,
        };
      case 'tokenFile':
      case 'exec': {
        const cached = this.#cached;
        if (cached !== undefined && Date.now() < cached.until) return cached.auth;
        this.#pending ??= this.#fetch(c).finally(() => {
          this.#pending = undefined;
        });
        this.#cached = await this.#pending;
        return this.#cached.auth;
      }
    }
  }

  /** The server refused the credentials: fetch them again next time (a rotated token, an expired plugin answer). */
  invalidate(): void {
    this.#cached = undefined;
  }

  async #fetch(c: Extract<Credentials, { type: 'tokenFile' | 'exec' }>): Promise<Cached> {
    if (c.type === 'exec') return runExec(c.exec, this.#config);
    let token: string;
    try {
      token = (await readFile(c.file, 'utf8')).trim();
    } catch (err) {
      throw new CredentialError(`cannot read the token file ${c.file}: ${errorMessage(err)}`);
    }
    if (token === '') throw new CredentialError(`the token file ${c.file} is empty`);
    return {
      auth: { authorization: `Bearer ${token}`, clientCert: undefined },
      until: Date.now() + TOKEN_FILE_TTL_MS,
    };
  }
}
