import { Command, CommanderError } from 'commander';
import { VERSION } from '../version.ts';
import { COMMANDS } from './commands.ts';
import { UsageError } from './usage.ts';
import { errorMessage } from '../errors.ts';

/** The command argv names (`etcd-monitor NAME …` or `etcd-monitor help NAME`), if any. */
function requestedCommand(argv: readonly string[]): string | undefined {
  const first = argv[2];
  return first === 'help' ? argv[3] : first;
}

export interface MainOptions {
  /**
   * Called right before the command's action runs (the daemons install
   * their signal handlers first thing in it): the launcher lets its
   * start-up handlers go from then on.
   */
  readonly beforeCommand?: () => void;
  /**
   * The launcher started a long-running command with a 1 MiB young
   * generation: let it grow when scavenges cost the process a real share of
   * its CPU (src/young-generation.ts).
   */
  readonly adaptiveYoungGeneration?: boolean;
}

/** Parses argv, runs one command, and returns the process exit code (2 for usage errors). */
export async function main(argv: readonly string[], opts: MainOptions = {}): Promise<number> {
  let code = 0;
  const done = (c: number): void => {
    code = c;
  };
  let youngGeneration: { stop(): void } | undefined;
  const program = new Command('etcd-monitor')
    .description('Inspects etcd clusters and exports Prometheus metrics.')
    .version(VERSION, '-v, --version')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .hook('preAction', async () => {
      opts.beforeCommand?.();
      if (opts.adaptiveYoungGeneration)
        youngGeneration = (await import('../young-generation.ts')).startYoungGenerationPolicy();
    });
  const wanted = requestedCommand(argv);
  for (const entry of COMMANDS) {
    // The requested command is loaded for real; the others are listed by
    // name and summary only, so that the help costs no import.
    const cmd = entry.name === wanted ? (await entry.load())(done) : new Command(entry.name);
    cmd.summary(entry.summary);
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
  } finally {
    youngGeneration?.stop();
  }
  return code;
}
