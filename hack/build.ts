/**
 * `npm run build` (and `prepack`): bundles src/ into dist/ with esbuild for
 * the published package and the image, which run dist/ only (the checkout
 * runs src/ directly; `npm run typecheck` checks the types).
 *
 * Why a bundle and not tsc's one file per module: `inspect` loaded ~520
 * modules (TypeBox alone 247), and Node's module loader (resolve, read,
 * compile, link per file) was most of its start-up. One entry per command
 * (the lazy command table's dynamic imports become chunks), shared chunks
 * for what several commands use: about a quarter less CPU and 10 MiB less
 * memory per start (docs/performance.md, "Start-up and memory").
 *
 * Left outside the bundle, loaded from node_modules at run time: pino and
 * its optional pino-pretty (its transports start worker threads from files
 * found next to their modules), and the test bed that only the demo imports
 * (lazily; in the package it says it runs from a checkout). The licence
 * texts of the bundled packages go to dist/THIRD-PARTY-LICENSES.txt.
 */
import { build, type Plugin } from 'esbuild';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = `${root}dist`;

/** Packages whose files must stay where npm installs them (see above). */
const EXTERNAL_PACKAGES = ['pino', 'pino-pretty'];

/**
 * Node's built-in modules through require(), not import. The ES module
 * facade of a built-in reads every one of its exports, and node:http's
 * include lazy getters (WebSocket, MessageEvent, ...) that load Node's own
 * copy of undici: ~60 ms of CPU at every start for an `import` of
 * node:http (measured against process.getBuiltinModule, which reads
 * nothing). Each built-in import becomes a tiny CommonJS module that
 * requires it; esbuild's interop reads a property only where it is used.
 */
const escapeSlash = (name: string): string => name.replace(/[/]/g, '\\/');
// node:test, node:sqlite, ...: only with the prefix (a bare name may be an npm package).
const prefixed = builtinModules.filter((m) => m.startsWith('node:')).map(escapeSlash);
const plain = builtinModules.filter((m) => !m.startsWith('node:') && !m.startsWith('_')).map(escapeSlash);
const BUILTIN = new RegExp(`^((node:)?(${plain.join('|')})|${prefixed.join('|')})$`);
const builtinsByRequire: Plugin = {
  name: 'builtins-by-require',
  setup(b) {
    b.onResolve({ filter: BUILTIN }, (args) =>
      args.namespace === 'builtin' || args.kind === 'require-call'
        ? { path: args.path, external: true }
        : { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: 'builtin' },
    );
    b.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

const testbedOutside: Plugin = {
  name: 'testbed-outside',
  setup(b) {
    b.onResolve({ filter: /(^|\/)testbed\// }, (args) => ({ path: args.path, external: true }));
  },
};

rmSync(dist, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { 'cli/main': 'src/cli/main.ts' },
  outdir: dist,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22.19',
  packages: 'bundle',
  external: EXTERNAL_PACKAGES,
  plugins: [builtinsByRequire, testbedOutside],
  // The bundled CommonJS packages call require() (node: built-ins, optional
  // modules in try/catch): give every chunk one.
  banner: {
    js: "import { createRequire as __etcdMonitorCreateRequire } from 'node:module'; const require = __etcdMonitorCreateRequire(import.meta.url);",
  },
  sourcemap: 'linked',
  sourcesContent: true,
  legalComments: 'eof',
  // V8 keeps the source text of every loaded chunk (for lazy compilation):
  // no comments or blanks takes ~10 MiB off the daemon's RSS. Names stay,
  // so stack traces read without the source maps.
  minifyWhitespace: true,
  minifySyntax: true,
  metafile: true,
  logLevel: 'warning',
});

writeFileSync(`${dist}/THIRD-PARTY-LICENSES.txt`, thirdPartyLicenses(Object.keys(result.metafile.inputs)));

/** The licence text of every package with code in the bundle, from its installed directory. */
function thirdPartyLicenses(inputs: readonly string[]): string {
  const dirs = new Set<string>();
  for (const input of inputs) {
    const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input);
    if (m?.[1] !== undefined) dirs.add(m[1]);
  }
  const parts: string[] = [
    'etcd-monitor bundles the following packages into dist/. Their licences follow.\n',
  ];
  for (const dir of [...dirs].sort()) {
    const pkg = JSON.parse(readFileSync(`${root}${dir}/package.json`, 'utf8')) as {
      name: string;
      version: string;
      license?: string;
    };
    const file = ['LICENSE', 'LICENSE.md', 'LICENSE.txt', 'license', 'LICENCE', 'License.md']
      .map((f) => `${root}${dir}/${f}`)
      .find((f) => existsSync(f));
    const text =
      file === undefined ? `(licence: ${pkg.license ?? 'see the package'})` : readFileSync(file, 'utf8');
    parts.push(`${'-'.repeat(72)}\n${pkg.name}@${pkg.version}\n\n${text.trim()}\n`);
  }
  return parts.join('\n');
}
