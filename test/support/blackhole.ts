import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/**
 * A TCP listener on 127.0.0.1 that accepts every connection and never sends
 * a byte: what a frozen member or a black-holing load balancer looks like.
 * Counts what the client side does with its connections.
 */
export class Blackhole {
  readonly #server: Server;
  readonly #open = new Set<Socket>();
  accepted = 0;
  closed = 0;

  private constructor(server: Server) {
    this.#server = server;
  }

  static async start(): Promise<Blackhole> {
    const server = createServer();
    const hole = new Blackhole(server);
    server.on('connection', (socket) => {
      hole.accepted++;
      hole.#open.add(socket);
      socket.on('error', () => {});
      // Read and drop: the peer's FIN/RST is only seen by a flowing socket.
      socket.resume();
      socket.on('close', () => {
        hole.closed++;
        hole.#open.delete(socket);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return hole;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  /** Connections the client still holds open. */
  get open(): number {
    return this.#open.size;
  }

  async stop(): Promise<void> {
    for (const socket of this.#open) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}
