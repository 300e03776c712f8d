#!/usr/bin/env node
// Entry point. Node 24 runs the TypeScript sources directly (type stripping),
// so the checkout needs no build step.

// grpc-js passes IP endpoints as the TLS server name, which Node flags with
// DEP0123 on every TLS connection to an IP; it is harmless and only noise
// for users. Every other warning is still printed.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  if (warning.code === 'DEP0123') return;
  process.stderr.write(`${warning.name}: ${warning.message}\n`);
});

const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv);
