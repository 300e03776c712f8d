/**
 * The text of a thrown value for logs, snapshots and messages: the message
 * only, never the whole object (which may carry options, and with them
 * credentials). Free of dependencies, so any layer may use it.
 */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
