/**
 * The kubeconfig of the commands that talk to Kubernetes (the controllers,
 * `migrate --from-cluster`). A module of its own so that the commands that
 * never do (`run`, `inspect`, `demo`) do not load the Kubernetes client.
 */
import {
  KubeConfigError,
  loadKubeConfig,
  type KubeConfigFlags,
  type RestConfig,
} from '../k8s/client/index.ts';
import { UsageError } from './common.ts';

/** What --kubeconfig, --context and --master select, as kubectl reads them; a bad one is a usage error (exit 2). */
export function kubeConfigFromFlags(flags: KubeConfigFlags): RestConfig {
  try {
    return loadKubeConfig(flags);
  } catch (err) {
    if (err instanceof KubeConfigError) throw new UsageError(err.message);
    throw err;
  }
}
