import { inspect } from 'node:util';

const REDACTED = '[REDACTED]';

/**
 * A credential (password, token, private key) that must never reach a log,
 * an error message, a metric or API output. Every way of turning it into
 * text yields "[REDACTED]"; only `reveal()` gives the value, at the one place
 * that sends it to etcd.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
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
