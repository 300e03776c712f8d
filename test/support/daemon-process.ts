import { spawn, type ChildProcess } from 'node:child_process';
import { eventually } from '../../src/testing/wait.ts';
import { BIN } from './cli.ts';

/** `etcd-monitor run` as a child process, its JSON logs collected; stop() always ends it. */
export class DaemonProcess {
  readonly child: ChildProcess;
  logs = '';
  stdout = '';
  readonly exited: Promise<number | null>;

  constructor(args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.child = spawn(process.execPath, [BIN, 'run', '--log-format', 'json', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.logs += d.toString()));
    this.child.stdout!.on('data', (d: Buffer) => (this.stdout += d.toString()));
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Waits for a log message (the "msg" field) matching `pattern`. */
  waitLog(pattern: RegExp, what: string, timeoutMs = 30_000): Promise<true> {
    return eventually(
      () => pattern.test(this.logs),
      `${what} (logs so far: ${this.logs.slice(-2000)})`,
      timeoutMs,
    );
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Kills the process if a test left it running. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
  }
}
