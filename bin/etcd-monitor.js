#!/usr/bin/env node
// Entry point. Node 24 runs the TypeScript sources directly (type stripping),
// so the checkout needs no build step.
await import('../src/quiet-warnings.ts');
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
