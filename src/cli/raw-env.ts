/**
 * An environment variable as the bytes the process was given. Node decodes
 * the environment as UTF-8, turning bytes that are not UTF-8 into U+FFFD;
 * etcdctl takes $ETCDCTL_PASSWORD byte for byte, and etcd compares bytes, so
 * a Latin-1 password would silently become another password. Linux keeps
 * the environment the process started with in /proc/self/environ.
 */
import { readFileSync } from 'node:fs';

const ENVIRON = '/proc/self/environ';

/**
 * The value of `name`: the decoded text when it holds no U+FFFD (nothing was
 * lost), else the raw bytes from /proc/self/environ (`environ` for tests);
 * the decoded text where those cannot be read (another OS) or differ from it
 * (the variable was changed after start).
 */
export function environmentValue(
  name: string,
  decoded: string,
  environ: () => Buffer = () => readFileSync(ENVIRON),
): string | Buffer {
  if (!decoded.includes('\uFFFD')) return decoded;
  let raw: Buffer;
  try {
    raw = environ();
  } catch {
    return decoded;
  }
  const prefix = Buffer.from(`${name}=`, 'utf8');
  let start = 0;
  while (start < raw.length) {
    let end = raw.indexOf(0, start);
    if (end === -1) end = raw.length;
    const entry = raw.subarray(start, end);
    if (entry.subarray(0, prefix.length).equals(prefix)) {
      const value = Buffer.from(entry.subarray(prefix.length));
      // The same variable as Node decoded it, not one set since.
      return value.toString('utf8') === decoded ? value : decoded;
    }
    start = end + 1;
  }
  return decoded;
}
