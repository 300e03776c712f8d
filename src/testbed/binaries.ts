/**
 * Where the etcd binaries of each supported minor version live.
 * 3.4 comes from Debian (/usr/bin), 3.5 and 3.6 are built from the Go module
 * proxy by hack/build-etcd.sh into the cache; hack/versions.env is the single
 * source of truth for the exact 3.5/3.6 versions.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export type EtcdVersion = '3.4' | '3.5' | '3.6';

export const ETCD_VERSIONS: readonly EtcdVersion[] = ['3.4', '3.5', '3.6'];

export interface EtcdBinaries {
  readonly etcd: string;
  readonly etcdctl: string;
  /** Full version, e.g. 3.6.16. */
  readonly version: string;
}

/** Environment the lookup reads; a parameter so tests need not mutate process.env. */
export type BinaryEnv = Readonly<Record<string, string | undefined>>;

export const REPO_ROOT = resolve(import.meta.dirname, '../..');
const VERSIONS_FILE = join(REPO_ROOT, 'hack', 'versions.env');
const SETUP_HINT = 'run `bash hack/setup.sh --test` to install or build it';

export function isEtcdVersion(value: unknown): value is EtcdVersion {
  return typeof value === 'string' && (ETCD_VERSIONS as readonly string[]).includes(value);
}

/** Parses hack/versions.env (KEY=VALUE lines, # comments). */
export function readVersionsEnv(file: string = VERSIONS_FILE): Record<string, string> {
  const out: Record<string, string> = {};
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    out[line.slice(0, eq).trim()] = line
      .slice(eq + 1)
      .trim()
      .replace(/^["']|["']$/g, '');
  }
  return out;
}

/** Same rule as the shell's ${ETCD_MONITOR_CACHE:-$HOME/.cache/etcd-monitor}. */
export function cacheDir(env: BinaryEnv = process.env): string {
  const dir = env['ETCD_MONITOR_CACHE'];
  return dir !== undefined && dir !== '' ? dir : join(homedir(), '.cache', 'etcd-monitor');
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

const versionCache = new Map<string, string>();

/** Asks the binary itself (`etcd --version`); cached per path. */
function reportedVersion(etcd: string): string {
  let version = versionCache.get(etcd);
  if (version === undefined) {
    const out = execFileSync(etcd, ['--version'], {
      encoding: 'utf8',
      timeout: 10_000,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const match = /etcd Version:\s*(\S+)/.exec(out);
    if (match?.[1] === undefined)
      throw new Error(`cannot read the version of ${etcd} from its --version output`);
    version = match[1];
    versionCache.set(etcd, version);
  }
  return version;
}

function expectedVersion(version: '3.5' | '3.6'): string {
  const key = version === '3.5' ? 'ETCD_35_VERSION' : 'ETCD_36_VERSION';
  const value = readVersionsEnv()[key];
  if (value === undefined || value === '') throw new Error(`${key} is missing in ${VERSIONS_FILE}`);
  return value;
}

/**
 * The etcd and etcdctl binaries for a minor version. ETCD_MONITOR_ETCD_BIN_DIR
 * (a directory holding etcd and etcdctl) overrides the lookup; its binary must
 * report the requested minor version.
 */
export function etcdBinaries(version: EtcdVersion, env: BinaryEnv = process.env): EtcdBinaries {
  if (!isEtcdVersion(version)) {
    throw new Error(`unsupported etcd version ${String(version)}; supported: ${ETCD_VERSIONS.join(', ')}`);
  }
  const override = env['ETCD_MONITOR_ETCD_BIN_DIR'];
  let dir: string;
  if (override !== undefined && override !== '') {
    dir = override;
  } else if (version === '3.4') {
    dir = '/usr/bin';
  } else {
    dir = join(cacheDir(env), 'etcd', `v${expectedVersion(version)}`);
  }
  const etcd = join(dir, 'etcd');
  const etcdctl = join(dir, 'etcdctl');
  const missing = [etcd, etcdctl].filter((p) => !isExecutable(p));
  if (missing.length > 0) {
    const source = override ? ' (from ETCD_MONITOR_ETCD_BIN_DIR)' : '';
    throw new Error(`etcd ${version} not found: ${missing.join(', ')} missing${source}; ${SETUP_HINT}`);
  }
  // The cached builds are verified by build-etcd.sh; others are asked.
  const full = override || version === '3.4' ? reportedVersion(etcd) : expectedVersion(version);
  if (!full.startsWith(`${version}.`)) {
    throw new Error(`${etcd} is etcd ${full}, not ${version}.x; ${SETUP_HINT}`);
  }
  return { etcd, etcdctl, version: full };
}
