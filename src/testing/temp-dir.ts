/**
 * A temporary directory for a whole suite: config files, password files,
 * generated scripts. Every suite that writes files made and removed one with
 * the same two hooks; this is that pair once.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';

/**
 * Returns the path of a new directory under the system's temporary directory
 * (its name starts with `prefix`) and registers, on the enclosing `describe`
 * (or the file, at top level), a `before` hook that creates it (mode 0700)
 * and an `after` hook that removes it with everything in it. Call it before
 * registering hooks that write into the directory.
 */
export function suiteTempDir(prefix: string): string {
  const dir = join(tmpdir(), `${prefix}${randomUUID()}`);
  before(async () => {
    await mkdir(dir, { mode: 0o700 });
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}
