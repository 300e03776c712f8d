/**
 * Every process and directory the test bed creates is tracked here, so that
 * nothing outlives the Node process: on 'exit' the leftovers are killed
 * synchronously, and on SIGINT/SIGTERM too when nobody else handles them.
 * On Linux the children also get PR_SET_PDEATHSIG (via setpriv), which covers
 * the one case no handler can: the Node process being SIGKILLed.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { open, readFile, readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { errorMessage } from '../errors.ts';

const children = new Set<ChildProcess>();
const dirs = new Set<string>();
let hooksInstalled = false;

function alive(child: ChildProcess): boolean {
  // No pid: the spawn itself failed.
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

function killLeftoversSync(): void {
  for (const child of children) {
    if (alive(child) && child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  children.clear();
  for (const dir of dirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      // Best effort at exit; nothing sensible left to do.
    }
  }
  dirs.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  // Someone else (e.g. the demo command) handles this signal: they decide
  // when to exit, and the 'exit' hook still cleans up after them.
  if (process.listenerCount(signal) > 1) return;
  killLeftoversSync();
  // Restore the default action (terminate by this signal) and re-raise it,
  // so the exit status stays what the sender expects.
  process.removeListener(signal, onSignal);
  process.kill(process.pid, signal);
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killLeftoversSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

let pdeathsigWrapper: string | null | undefined;

/** setpriv --pdeathsig, if this machine has a setpriv that supports it. */
function pdeathsig(): string | null {
  if (pdeathsigWrapper === undefined) {
    pdeathsigWrapper = null;
    if (process.platform === 'linux') {
      for (const candidate of ['/usr/bin/setpriv', '/bin/setpriv']) {
        if (!existsSync(candidate)) continue;
        const probe = spawnSync(candidate, ['--pdeathsig', 'KILL', '--', 'true'], {
          stdio: 'ignore',
          timeout: 5_000,
        });
        if (probe.status === 0) pdeathsigWrapper = candidate;
        break;
      }
    }
  }
  return pdeathsigWrapper;
}

export interface TrackedProcess {
  readonly child: ChildProcess;
  /** Resolves once the process has exited (or failed to spawn); never rejects. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>;
}

/**
 * spawn() whose child is tracked until it exits. With `killWithParent` the
 * child is started through setpriv so the kernel kills it if we die hard;
 * setpriv execs the command, so the pid is the command's own.
 */
export function spawnTracked(
  command: string,
  args: readonly string[],
  options: SpawnOptions & { killWithParent?: boolean },
): TrackedProcess {
  installHooks();
  const { killWithParent, ...spawnOptions } = options;
  const wrapper = killWithParent ? pdeathsig() : null;
  const child =
    wrapper === null
      ? spawn(command, args, spawnOptions)
      : spawn(wrapper, ['--pdeathsig', 'KILL', '--', command, ...args], spawnOptions);
  children.add(child);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once('exit', (code, signal) => {
        children.delete(child);
        resolve({ code, signal });
      });
      // A spawn failure (ENOENT, EACCES) emits 'error' and no 'exit'.
      child.once('error', (error) => {
        if (child.pid === undefined) {
          children.delete(child);
          resolve({ code: null, signal: null, error });
        }
      });
    },
  );
  return { child, exited };
}

export function isAlive(child: ChildProcess | undefined): boolean {
  return child !== undefined && alive(child);
}

/** How long stopProcess waits for every thread to stop (only a guard against a hang). */
const STOP_DEADLINE_MS = 30_000;

/**
 * SIGSTOP, then waits until every thread of the process is stopped. kill()
 * returns before the process stops: the kernel stops the thread group only
 * once one of its threads handles the signal, and on a loaded machine the
 * others keep running meanwhile (an etcd member went on applying writes and
 * sending watch events for tens of ms after kill() returned). Where there is
 * no /proc (not Linux) it returns after sending the signal.
 */
export async function stopProcess(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || !alive(child)) throw new Error('the process is not running');
  child.kill('SIGSTOP');
  const deadline = performance.now() + STOP_DEADLINE_MS;
  for (;;) {
    const running = await runningThreads(pid);
    if (running === undefined || running.length === 0) return;
    if (!alive(child)) throw new Error(`process ${pid} exited while being stopped`);
    if (performance.now() > deadline)
      throw new Error(
        `process ${pid}: threads ${running.join(', ')} still not stopped ${STOP_DEADLINE_MS} ms after SIGSTOP`,
      );
    await sleep(5);
  }
}

/** Thread ids of `pid` not in a stopped state; undefined without /proc. */
async function runningThreads(pid: number): Promise<number[] | undefined> {
  if (!existsSync('/proc/self/task')) return undefined;
  const tids = await readdir(`/proc/${pid}/task`);
  const running: number[] = [];
  for (const tid of tids) {
    let stat: string;
    try {
      stat = await readFile(`/proc/${pid}/task/${tid}/stat`, 'latin1');
    } catch {
      continue; // the thread exited
    }
    // "tid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'.
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    // T: stopped by a signal; t: stopped by a tracer; Z/X: exiting, runs no more code.
    if (!'TtZX'.includes(state)) running.push(Number(tid));
  }
  return running;
}

/** Registers a directory to be removed at exit unless untracked first. */
export function trackDir(dir: string): void {
  installHooks();
  dirs.add(dir);
}

export function untrackDir(dir: string): void {
  dirs.delete(dir);
}

/** Number of tracked, still running children (for tests and diagnostics). */
export function trackedProcessCount(): number {
  let n = 0;
  for (const child of children) if (alive(child)) n++;
  return n;
}

const LOG_TAIL_BYTES = 4096;
const LOG_TAIL_LINES = 15;

/** Last lines of a log file, for error messages. */
export async function logTail(file: string): Promise<string> {
  try {
    const handle = await open(file, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, LOG_TAIL_BYTES);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      const lines = buf
        .toString('utf8')
        .split('\n')
        .filter((l) => l.trim() !== '');
      return lines.slice(-LOG_TAIL_LINES).join('\n');
    } finally {
      await handle.close();
    }
  } catch (err) {
    return `(no log: ${errorMessage(err)})`;
  }
}
