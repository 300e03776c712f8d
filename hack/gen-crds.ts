/**
 * Writes the CRDs of src/k8s/api/ to deploy/crds/ (one file per kind).
 * `--check` writes nothing and exits 1 when a checked-in file is out of date.
 * test/k8s/crds.test.ts runs the same comparison in the test suite.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { CRD_DEFINITIONS, crdFileName, crdYaml } from '../src/k8s/api/crd.ts';

const dir = resolve(import.meta.dirname, '..', 'deploy', 'crds');
const check = process.argv.includes('--check');
let stale = 0;
for (const def of CRD_DEFINITIONS) {
  const file = join(dir, crdFileName(def));
  const want = crdYaml(def);
  const have = await readFile(file, 'utf8').catch(() => undefined);
  if (have === want) continue;
  if (check) {
    console.error(`gen-crds: ${file} is out of date; run \`npm run gen:crds\``);
    stale++;
  } else {
    await writeFile(file, want);
    console.log(`gen-crds: wrote ${file}`);
  }
}
process.exitCode = stale > 0 ? 1 : 0;
