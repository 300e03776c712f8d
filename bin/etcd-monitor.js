#!/usr/bin/env node
// Entry point, plain JavaScript so that any Node runs it far enough to say
// what is wrong. Two layouts:
// - the published package and the image ship dist/ (compiled by `npm run
//   build`) and no src/: that is what runs, on Node 22.19+ or 24;
// - a checkout runs the TypeScript sources directly (type stripping, no
//   build step) on the pinned Node 24, the `node` dev dependency that
//   `npx etcd-monitor` and npm scripts put first on PATH.
// One launcher for both keeps `npx etcd-monitor` working in a checkout
// without a build; the pack test checks the installed package runs dist/.
import { existsSync } from 'node:fs';

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
const checkout = existsSync(new URL('../src/cli/main.ts', import.meta.url));
if (checkout ? major < 24 : major < 22 || (major === 22 && minor < 19) || major === 23) {
  process.stderr.write(
    checkout
      ? `etcd-monitor needs Node.js 24 or newer (this is ${process.version}): run it as \`npx etcd-monitor\` from the checkout after \`npm run setup\`.\n`
      : `etcd-monitor needs Node.js 22.19 or newer 22.x, or 24 or newer (this is ${process.version}).\n`,
  );
  process.exit(2);
}
const src = checkout ? '../src' : '../dist';
const ext = checkout ? 'ts' : 'js';
await import(`${src}/quiet-warnings.${ext}`);
const { main } = await import(`${src}/cli/main.${ext}`);
process.exitCode = await main(process.argv);
