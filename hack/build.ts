/**
 * `npm run build` (and `prepack`): compiles src/ to dist/ with tsc, copies
 * the .proto files the v3 client loads at run time, and leaves out the test
 * bed, which only the demo imports (lazily, and it says so when it is
 * missing). The published package and the image run dist/ only.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist`;
rmSync(dist, { recursive: true, force: true });
execFileSync(
  process.execPath,
  [`${root}node_modules/typescript/bin/tsc`, '-p', `${root}tsconfig.build.json`],
  {
    stdio: 'inherit',
  },
);
// tsc follows the demo's dynamic import into the test bed: not part of the package.
rmSync(`${dist}/testbed`, { recursive: true, force: true });
cpSync(`${root}src/etcd/proto`, `${dist}/etcd/proto`, { recursive: true });
