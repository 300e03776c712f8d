import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.ts';
import { UsageError } from './common.ts';
import { inspectCommand } from './inspect.ts';
import { runCommand } from './run.ts';
import { demoCommand } from './demo.ts';
import { etcdclusterCommand } from './etcdcluster.ts';
import { inspectionCommand } from './inspection.ts';
import { operatorCommand } from './operator.ts';
import { errorMessage } from '../errors.ts';

/** Parses argv, runs one command, and returns the process exit code (2 for usage errors). */
export async function main(argv: readonly string[]): Promise<number> {
  let code = 0;
  const done = (c: number): void => {
    code = c;
  };
  const program = new Command('etcd-monitor')
    .description('Inspects etcd clusters and exports Prometheus metrics.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  for (const cmd of [
    runCommand(done),
    inspectCommand(done),
    demoCommand(done),
    operatorCommand(done),
    etcdclusterCommand(done),
    inspectionCommand(done),
  ]) {
    program.addCommand(cmd.exitOverride().showHelpAfterError('(run with --help for usage)'));
  }
  try {
    await program.parseAsync([...argv]);
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version "fail" with exit code 0.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`etcd-monitor: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`etcd-monitor: ${errorMessage(err)}\n`);
    return 1;
  }
  return code;
}
