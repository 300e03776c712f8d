// A JSON import, not a require() relative to this file: the package's bundle
// (hack/build.ts) puts this code in a chunk elsewhere, and inlines the file.
import pkg from '../package.json' with { type: 'json' };

export const VERSION: string = pkg.version;
