import { readFile } from 'node:fs/promises';
import { Secret, withoutTrailingNewline } from '../etcd/secret.ts';

// A module of its own so that `inspect` reads password files without loading
// the config loader (and its YAML parser).
/**
 * A password file holds the password and maybe a trailing newline, nothing
 * else. Its bytes are the password, whatever the encoding (a Latin-1 file is
 * not turned into UTF-8): etcd compares bytes, as etcdctl sends them.
 */
export async function readPasswordFile(file: string): Promise<Secret> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new Error(`cannot read password file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const password = withoutTrailingNewline(bytes);
  if (password.length === 0) throw new Error(`password file ${file} is empty`);
  return new Secret(password);
}
