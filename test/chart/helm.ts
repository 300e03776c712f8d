/**
 * Helm for the chart tests: the binaries hack/build-helm.sh builds (Helm 3
 * and Helm 4, cached by version), and `helm template` output as objects.
 */
import { execFile, execFileSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const CHART = join(ROOT, 'charts', 'etcd-monitor');
export const CI_VALUES = join(CHART, 'ci');
export const HELM_MAJORS = [3, 4] as const;
export type HelmMajor = (typeof HELM_MAJORS)[number];

const binaries = new Map<HelmMajor, string>();

/** The Helm binary of that major version (hack/setup.sh --test builds both; built here if missing). */
export function helm(major: HelmMajor): string {
  let bin = binaries.get(major);
  if (bin === undefined) {
    bin = execFileSync('bash', [join(ROOT, 'hack', 'build-helm.sh'), String(major)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }).trim();
    binaries.set(major, bin);
  }
  return bin;
}

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export function runHelm(major: HelmMajor, args: readonly string[]): Promise<HelmResult> {
  return new Promise((resolvePromise, reject) => {
    execFile(
      helm(major),
      [...args],
      { timeout: 120_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(err);
          return;
        }
        resolvePromise({ code: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
  });
}

export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly labels?: Record<string, string>;
  };
  readonly [field: string]: unknown;
}

export interface RenderOptions {
  readonly release?: string;
  readonly namespace?: string;
  readonly valuesFiles?: readonly string[];
  /** --set-json key=value pairs. */
  readonly setJson?: Readonly<Record<string, unknown>>;
}

function templateArgs(opts: RenderOptions): string[] {
  const args = [
    'template',
    opts.release ?? 'etcd-monitor',
    CHART,
    '--namespace',
    opts.namespace ?? 'etcd-monitor',
  ];
  for (const file of opts.valuesFiles ?? []) args.push('--values', file);
  for (const [key, value] of Object.entries(opts.setJson ?? {}))
    args.push('--set-json', `${key}=${JSON.stringify(value)}`);
  return args;
}

/** `helm template` text; throws with Helm's message when it fails. */
export async function renderText(major: HelmMajor, opts: RenderOptions = {}): Promise<string> {
  const r = await runHelm(major, templateArgs(opts));
  if (r.code !== 0) throw new Error(`helm ${major} template failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `helm template` as objects (documents that are empty after rendering are dropped). */
export async function render(major: HelmMajor, opts: RenderOptions = {}): Promise<KubeObject[]> {
  return parseObjects(await renderText(major, opts));
}

export function parseObjects(text: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors[0]!.message}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value as KubeObject);
  }
  return out;
}

/** `helm template` failure message for these values (the test expects a failure). */
export async function renderError(major: HelmMajor, opts: RenderOptions): Promise<string> {
  const r = await runHelm(major, templateArgs(opts));
  if (r.code === 0) throw new Error('helm template succeeded; expected it to reject the values');
  return r.stderr;
}

export function find(objects: readonly KubeObject[], kind: string, name?: string): KubeObject[] {
  return objects.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
}

export function only(objects: readonly KubeObject[], kind: string): KubeObject {
  const found = find(objects, kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0]!;
}
