import { readFile } from 'node:fs/promises';
import { Secret } from '../etcd/secret.ts';

// A module of its own so that `inspect` reads password files without loading
// the config loader (and its YAML parser).
/** A password file holds the password and maybe a trailing newline, nothing else. */
export async function readPasswordFile(file: string): Promise<Secret> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read password file ${file}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  const password = text.replace(/\r?\n$/, '');
  if (password === '') throw new Error(`password file ${file} is empty`);
  return new Secret(password);
}
