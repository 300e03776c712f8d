import { isUtf8 } from 'node:buffer';
import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * A credential (password, token, private key) that must never reach a log,
 * an error message, a metric or API output. Every way of turning it into
 * text yields "[REDACTED]"; only `reveal()` gives the value, at the one place
 * that sends it to etcd.
 */
export class Secret {
  readonly #value: string | Buffer;

  /**
   * Text, or bytes as read from a file or a Kubernetes Secret: bytes that are
   * not UTF-8 (a password saved in Latin-1, say) are kept as they are and
   * sent byte for byte, as etcdctl sends what it is given; etcd compares
   * passwords as bytes.
   */
  constructor(value: string | Uint8Array) {
    this.#value =
      typeof value === 'string'
        ? value
        : isUtf8(value)
          ? Buffer.from(value).toString('utf8')
          : Buffer.from(value);
  }

  /** The value as text (bytes that are not UTF-8 come out with replacement characters: use revealBytes to send them). */
  reveal(): string {
    return typeof this.#value === 'string' ? this.#value : this.#value.toString('utf8');
  }

  /** The exact bytes: what goes to etcd. */
  revealBytes(): Buffer {
    return typeof this.#value === 'string' ? Buffer.from(this.#value, 'utf8') : Buffer.from(this.#value);
  }

  /** True when the value is bytes that are not UTF-8 (said in errors, never shown). */
  get isBinary(): boolean {
    return typeof this.#value !== 'string';
  }

  get isEmpty(): boolean {
    return this.#value.length === 0;
  }

  toString(): string {
    return REDACTED;
  }

  toJSON(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return REDACTED;
  }
}

/** One trailing "\n" or "\r\n" dropped (what `echo pw > file` leaves), bytes otherwise untouched. */
export function withoutTrailingNewline(bytes: Uint8Array): Uint8Array {
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) {
    end--;
    if (end > 0 && bytes[end - 1] === 0x0d) end--;
  }
  return bytes.subarray(0, end);
}
