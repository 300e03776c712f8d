/**
 * The text of a thrown value for logs, snapshots and messages: the message
 * only, never the whole object (which may carry options, and with them
 * credentials). Free of dependencies, so any layer may use it.
 */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const URL_SCHEME = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * A URL-like text with any user info ("user:password@") replaced by
 * [REDACTED]: what every message that quotes an endpoint or URL shows.
 * Everything up to the last "@" counts as user info, so a password holding
 * "@", ":" or "/" is hidden whole.
 */
export function redactUserinfo(text: string): string {
  const scheme = URL_SCHEME.exec(text)?.[0] ?? '';
  const rest = text.slice(scheme.length);
  // The last "@" anywhere: a password may hold "/" too, and an endpoint has no use for "@" elsewhere.
  const at = rest.lastIndexOf('@');
  if (at < 0) return text;
  return `${scheme}[REDACTED]@${rest.slice(at + 1)}`;
}

/**
 * A YAML parse error as "(line L, column C): what", without the excerpt of
 * the source the parser appends: that line may hold a token or a password.
 */
export function yamlErrorText(err: {
  readonly message: string;
  readonly linePos?: readonly { readonly line: number; readonly col: number }[] | undefined;
}): string {
  const pos = err.linePos?.[0];
  const where = pos !== undefined ? `(line ${pos.line}, column ${pos.col}): ` : '';
  return `${where}${(err.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '')}`;
}
