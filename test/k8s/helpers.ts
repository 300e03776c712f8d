/** Shared set-up of the tests on a real kube-apiserver. */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import {
  startKubeApiserver,
  type KubeApiserver,
  type StartKubeApiserverOptions,
} from '../../src/testbed/index.ts';

export const CRD_DIR = resolve(import.meta.dirname, '..', '..', 'deploy', 'crds');

/** An apiserver with the project's CRDs applied. */
export async function startApiserverWithCrds(opts: StartKubeApiserverOptions = {}): Promise<KubeApiserver> {
  const server = await startKubeApiserver(opts);
  try {
    await server.applyManifests([CRD_DIR]);
    return server;
  } catch (err) {
    await server.stop();
    throw err;
  }
}

/** A fresh namespace (namespaces are never finalized without a controller-manager: use a new one per test). */
export async function createNamespace(server: KubeApiserver, prefix = 'test'): Promise<string> {
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  await server.applyManifests(`apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${name}\n`);
  return name;
}

/** A ServiceAccount and a token for it (TokenRequest API). */
export async function serviceAccount(
  server: KubeApiserver,
  namespace: string,
  name: string,
): Promise<string> {
  await server.applyManifests(
    `apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: ${name}\n  namespace: ${namespace}\n`,
  );
  return server.serviceAccountToken(namespace, name);
}

export const FIXTURES = join(import.meta.dirname, 'fixtures');
