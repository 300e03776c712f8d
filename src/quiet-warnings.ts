/**
 * grpc-js passes IP endpoints as the TLS server name, which Node flags with
 * DEP0123 on every TLS connection to an IP. It is harmless and only noise for
 * users; every other warning is still printed.
 */
process.removeAllListeners('warning');
process.on('warning', (warning: Error & { code?: string }) => {
  if (warning.code === 'DEP0123') return;
  process.stderr.write(`${warning.name}: ${warning.message}\n`);
});
