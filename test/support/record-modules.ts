/**
 * `node --import ./record-modules.ts …` writes every module URL the process
 * resolved to $RECORD_MODULES_FILE at exit, one a line: how the tests see
 * which modules a command loads.
 */
import { writeFileSync } from 'node:fs';
import { recordResolvedModules } from './resolved-modules.ts';

const file = process.env['RECORD_MODULES_FILE'];
if (file !== undefined) {
  const seen = recordResolvedModules();
  process.on('exit', () => writeFileSync(file, [...seen].join('\n')));
}
