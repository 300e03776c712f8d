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
import { existsSync, readFileSync } from 'node:fs';
import { enableCompileCache } from 'node:module';

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
// The version needs no command: printed before anything is loaded.
const args = process.argv.slice(2);
if (args.length === 1 && (args[0] === '--version' || args[0] === '-v')) {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
  process.stdout.write(`${pkg.version}\n`);
  process.exit(0);
}
// V8's code cache on disk (in the OS temp directory): later starts skip
// compiling the modules they load. Start-up figures: docs/performance.md.
enableCompileCache?.();
const src = checkout ? '../src' : '../dist';
const ext = checkout ? 'ts' : 'js';
const { main } = await import(`${src}/cli/main.${ext}`);
process.exitCode = await main(process.argv);
