/** Shared set-up of the tests on a real kube-apiserver. */
import { randomBytes } from 'node:crypto';
import { join, resolve } from 'node:path';
import { after, before } from 'node:test';
import { createClients, type Clients } from '../../src/k8s/client/index.ts';
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

/** One rule of a Role: the verbs allowed on some resources of one API group ("" for core). */
export interface RoleRule {
  readonly apiGroup: string;
  readonly resources: readonly string[];
  readonly verbs: readonly string[];
}

/**
 * A fresh namespace with a ServiceAccount `operator` allowed only `rule` there
 * (a Role and its binding), and clients that act as it: what a component of
 * the operator gets, never admin.
 */
export async function namespaceAsOperator(
  server: KubeApiserver,
  prefix: string,
  rule: RoleRule,
): Promise<{ namespace: string; kube: Clients }> {
  const ns = await createNamespace(server, prefix);
  const list = (items: readonly string[]): string => `[${items.map((i) => JSON.stringify(i)).join(', ')}]`;
  await server.applyManifests(`
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: ${prefix}, namespace: ${ns}}
rules:
- apiGroups: [${JSON.stringify(rule.apiGroup)}]
  resources: ${list(rule.resources)}
  verbs: ${list(rule.verbs)}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ${prefix}, namespace: ${ns}}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: ${prefix}}
subjects:
- {kind: ServiceAccount, name: operator, namespace: ${ns}}
`);
  const token = await serviceAccount(server, ns, 'operator');
  return { namespace: ns, kube: createClients(server.kubeConfigFor(token)) };
}

/** A kube-apiserver of its own with one namespace where the clients act as the operator (see namespaceAsOperator). */
export interface ApiserverAsOperator {
  readonly server: KubeApiserver;
  readonly namespace: string;
  readonly kube: Clients;
}

/**
 * The suite's own kube-apiserver with namespaceAsOperator(server, prefix, rule)
 * on it: started by a `before` hook registered on the enclosing `describe`;
 * an `after` hook first awaits `stopFirst` (what the tests left running
 * against it: recorders, candidates), then closes the clients and stops the
 * apiserver. The returned object is filled in by the `before` hook: read it
 * inside tests.
 */
export function suiteApiserverAsOperator(
  prefix: string,
  rule: RoleRule,
  stopFirst: () => Promise<unknown> = async () => {},
): ApiserverAsOperator {
  const bed = {} as ApiserverAsOperator;
  let server: KubeApiserver | undefined;
  let kube: Clients | undefined;
  before(async () => {
    server = await startKubeApiserver();
    const operator = await namespaceAsOperator(server, prefix, rule);
    kube = operator.kube;
    Object.assign(bed, { server, ...operator });
  });
  after(async () => {
    try {
      await stopFirst();
    } finally {
      await kube?.close();
      await server?.stop();
    }
  });
  return bed;
}

export const FIXTURES = join(import.meta.dirname, 'fixtures');
