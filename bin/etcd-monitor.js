#!/usr/bin/env node
// Entry point. Node 24 runs the TypeScript sources directly (type stripping),
// so the checkout needs no build step. The pinned Node 24 is the `node`
// dev dependency: `npx etcd-monitor` and npm scripts put it first on PATH.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `etcd-monitor needs Node.js 24 or newer (this is ${process.version}): run it as \`npx etcd-monitor\` from the checkout after \`npm run setup\`.\n`,
  );
  process.exit(2);
}
await import('../src/quiet-warnings.ts');
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
