/**
 * Writes src/etcd/proto/etcd.json, the descriptor the v3 client loads, from
 * the .proto files next to it. `--check` writes nothing and exits 1 when the
 * checked-in file is out of date (src/etcd/v3/codec.test.ts checks it too).
 */
import { readFile, writeFile } from 'node:fs/promises';
import { isDeepStrictEqual } from 'node:util';
import { DESCRIPTOR_FILE, descriptorFromProtos } from '../src/etcd/v3/descriptor.ts';

const want = descriptorFromProtos();
const have = await readFile(DESCRIPTOR_FILE, 'utf8').catch(() => undefined);
// Compared as data: Biome formats the checked-in file.
if (have !== undefined && isDeepStrictEqual(JSON.parse(have), JSON.parse(want))) {
  console.log(`gen-protos: ${DESCRIPTOR_FILE} is up to date`);
} else if (process.argv.includes('--check')) {
  console.error(`gen-protos: ${DESCRIPTOR_FILE} is out of date; run \`npm run gen:protos\``);
  process.exitCode = 1;
} else {
  await writeFile(DESCRIPTOR_FILE, want);
  // (then `npx biome format --write` formats it as the rest of the tree)
  console.log(`gen-protos: wrote ${DESCRIPTOR_FILE}`);
}
