/**
 * `node --import ./record-modules.ts …` writes every module URL the process
 * resolved to $RECORD_MODULES_FILE at exit, one a line: how the tests see
 * which modules a command loads.
 */
import { writeFileSync } from 'node:fs';
import { registerHooks } from 'node:module';

const file = process.env['RECORD_MODULES_FILE'];
const seen = new Set<string>();
if (file !== undefined) {
  registerHooks({
    resolve(specifier, context, next) {
      const result = next(specifier, context);
      seen.add(result.url);
      return result;
    },
  });
  process.on('exit', () => writeFileSync(file, [...seen].join('\n')));
}
