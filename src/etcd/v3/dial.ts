/**
 * Bounds and owns every connection attempt of one gRPC channel.
 *
 * grpc-js has no connect timeout and does not tear down an attempt that is
 * still in its TLS or HTTP/2 handshake when the channel closes: a member that
 * accepts TCP but never answers (a frozen etcd, a black-holing load balancer)
 * would keep that socket, and the process alive, for good. The channel's
 * credentials are wrapped so that every socket grpc connects passes through
 * here: an attempt that has not made the channel READY within the dial
 * timeout is destroyed (grpc then backs off and retries, so a member that
 * recovers is reconnected), and close() destroys every socket still open,
 * in whatever state.
 */
import { isIP, type Socket } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import type { experimental } from '@grpc/grpc-js';

type SecureConnector = experimental.SecureConnector;
type ConnectorArgs = Parameters<grpc.ChannelCredentials['_createSecureConnector']>;

/**
 * Why the guard ended a connection. Not a TLS failure even on a TLS channel
 * (nothing was wrong with a certificate), so the text avoids the words that
 * classifyGrpcStatus reads as one ("handshake").
 */
export function unansweredDialText(dialTimeoutMs: number): string {
  return `connection accepted but the member did not answer within ${dialTimeoutMs} ms (member frozen or overloaded, or a proxy that holds connections)`;
}

export class DialGuard {
  readonly #dialTimeoutMs: number;
  readonly #sockets = new Set<Socket>();
  #isReady: () => boolean = () => false;
  #closed = false;

  constructor(dialTimeoutMs: number) {
    this.#dialTimeoutMs = dialTimeoutMs;
  }

  /** Sockets of this channel still open (for tests and shutdown reports). */
  get openSockets(): number {
    return this.#sockets.size;
  }

  /** Credentials that hand every new socket to this guard. */
  wrap(inner: grpc.ChannelCredentials, isReady: () => boolean): grpc.ChannelCredentials {
    this.#isReady = isReady;
    return new GuardedCredentials(inner, this);
  }

  /** Destroys every socket of the channel and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const socket of this.#sockets) socket.destroy();
    this.#sockets.clear();
  }

  /** @internal called by GuardedCredentials for each connection attempt. */
  attempt(socket: Socket, connect: (s: Socket) => ReturnType<SecureConnector['connect']>) {
    if (this.#closed) {
      socket.destroy();
      return Promise.reject(new Error('client is closed'));
    }
    this.#track(socket);
    // The attempt's deadline: TLS handshake and HTTP/2 settings exchange both
    // within the dial timeout, else the socket goes and grpc tries again.
    const timer = setTimeout(() => {
      if (!socket.destroyed && !this.#isReady()) {
        socket.destroy(new Error(unansweredDialText(this.#dialTimeoutMs)));
      }
    }, this.#dialTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
    return connect(socket).then((result) => {
      if (result.socket !== socket) {
        this.#track(result.socket);
        result.socket.once('close', () => clearTimeout(timer));
      }
      if (this.#closed) result.socket.destroy();
      return result;
    });
  }

  #track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
  }
}

/**
 * grpc-js sends the target's host as the TLS server name (SNI) even when it
 * is an IP address, which RFC 6066 forbids and Node flags with DEP0123 on
 * every connection. The name checked against the certificate is unchanged:
 * without a servername Node checks the host (the IP's SAN), as before.
 */
function withoutIpServerName(connector: SecureConnector): void {
  const options = (connector as { connectionOptions?: { servername?: unknown } }).connectionOptions;
  if (typeof options?.servername === 'string' && isIP(options.servername) !== 0) delete options.servername;
}

class GuardedCredentials extends grpc.ChannelCredentials {
  readonly #inner: grpc.ChannelCredentials;
  readonly #guard: DialGuard;

  constructor(inner: grpc.ChannelCredentials, guard: DialGuard) {
    super();
    this.#inner = inner;
    this.#guard = guard;
  }

  override _isSecure(): boolean {
    return this.#inner._isSecure();
  }

  override _equals(other: grpc.ChannelCredentials): boolean {
    return other === this;
  }

  override _createSecureConnector(...args: ConnectorArgs): SecureConnector {
    const inner = this.#inner._createSecureConnector(...args);
    withoutIpServerName(inner);
    const guard = this.#guard;
    return {
      connect: (socket) => guard.attempt(socket, (s) => inner.connect(s)),
      waitForReady: () => inner.waitForReady(),
      getCallCredentials: () => inner.getCallCredentials(),
      destroy: () => inner.destroy(),
    };
  }
}
