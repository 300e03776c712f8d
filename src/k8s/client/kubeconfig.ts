/**
 * Where the operator finds the apiserver, as client-go's
 * BuildConfigFromFlags(master, kubeconfig) decides it:
 *   --kubeconfig FILE   that file (its current context);
 *   --master URL        overrides the server (with or without a file);
 *   neither             in-cluster: the pod's ServiceAccount token (re-read
 *                       as the kubelet rotates it), CA and namespace.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KubeConfig, type Cluster } from '@kubernetes/client-node';
import { errorMessage } from '../../errors.ts';

export interface KubeConfigFlags {
  readonly kubeconfig?: string;
  readonly master?: string;
}

export interface InClusterEnv {
  /** default process.env */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** default /var/run/secrets/kubernetes.io/serviceaccount */
  readonly serviceAccountDir?: string;
}

export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

function checkServer(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new KubeConfigError(`${what} "${url}" is not a URL (want e.g. https://10.0.0.1:6443)`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    throw new KubeConfigError(`${what} "${url}": only https:// (or http://) is supported`);
  return url.replace(/\/+$/, '');
}

/** The in-cluster configuration, or a KubeConfigError saying why there is none. */
export function inClusterConfig(opts: InClusterEnv = {}): KubeConfig {
  const env = opts.env ?? process.env;
  const dir = opts.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const host = env['KUBERNETES_SERVICE_HOST'];
  const port = env['KUBERNETES_SERVICE_PORT'];
  if (host === undefined || host === '' || port === undefined || port === '') {
    throw new KubeConfigError(
      'not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST/PORT are not set): pass --kubeconfig or --master',
    );
  }
  const tokenFile = join(dir, 'token');
  const caFile = join(dir, 'ca.crt');
  for (const file of [tokenFile, caFile]) {
    try {
      accessSync(file, constants.R_OK);
    } catch {
      throw new KubeConfigError(
        `in-cluster configuration: cannot read ${file} (is a ServiceAccount token mounted?)`,
      );
    }
  }
  let namespace: string | undefined;
  try {
    namespace = readFileSync(join(dir, 'namespace'), 'utf8').trim();
  } catch {
    namespace = undefined;
  }
  const server = `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'in-cluster', server, caFile, skipTLSVerify: false }],
    // The token file is re-read every minute: bound tokens rotate.
    users: [{ name: 'in-cluster', authProvider: { name: 'tokenFile', config: { tokenFile } } }],
    contexts: [
      {
        name: 'in-cluster',
        cluster: 'in-cluster',
        user: 'in-cluster',
        ...(namespace !== undefined && namespace !== '' && { namespace }),
      },
    ],
    currentContext: 'in-cluster',
  });
  return kc;
}

/** Loads the configuration the flags ask for; throws KubeConfigError with what to do. */
export function loadKubeConfig(flags: KubeConfigFlags, inCluster: InClusterEnv = {}): KubeConfig {
  const master =
    flags.master !== undefined && flags.master !== '' ? checkServer(flags.master, '--master') : undefined;
  const file = flags.kubeconfig !== undefined && flags.kubeconfig !== '' ? flags.kubeconfig : undefined;
  if (file === undefined && master === undefined) return inClusterConfig(inCluster);

  const kc = new KubeConfig();
  if (file !== undefined) {
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new KubeConfigError(`--kubeconfig ${file}: ${errorMessage(err)}`);
    }
    const cluster = kc.getCurrentCluster();
    if (cluster === null)
      throw new KubeConfigError(
        `--kubeconfig ${file}: no current context with a cluster (current-context: "${kc.getCurrentContext() ?? ''}")`,
      );
    if (master === undefined) {
      checkServer(cluster.server, `--kubeconfig ${file}: server`);
      return kc;
    }
    // --master replaces the server of the current cluster; credentials stay.
    const replaced: Cluster = { ...cluster, server: master };
    kc.loadFromOptions({
      clusters: kc.getClusters().map((c) => (c.name === cluster.name ? replaced : c)),
      users: kc.getUsers(),
      contexts: kc.getContexts(),
      currentContext: kc.getCurrentContext(),
    });
    return kc;
  }
  // --master alone: that server, no credentials (as client-go does).
  kc.loadFromOptions({
    clusters: [{ name: 'master', server: master, skipTLSVerify: false }],
    users: [{ name: 'anonymous' }],
    contexts: [{ name: 'master', cluster: 'master', user: 'anonymous' }],
    currentContext: 'master',
  });
  return kc;
}
