/**
 * The EtcdInspections an EtcdCluster should own (one `<cluster>-<feature>`
 * per enabled feature) and what to do to get there from what exists: pure,
 * so the rules are unit-tested without an apiserver.
 */
import {
  controllerRef,
  ETCD_CLUSTER_KIND,
  inspectionName,
  type EtcdCluster,
  type EtcdInspection,
  type EtcdInspectionSpec,
  type ValidEtcdCluster,
} from '../../k8s/api/index.ts';
import type { DeepReadonly, ObjectInput } from '../../k8s/client/index.ts';

/** Label on every EtcdInspection the controller creates: the cluster's name. */
export const CLUSTER_LABEL = 'etcdmonitor.dev/cluster';

export interface DesiredInspection {
  readonly name: string;
  readonly feature: string;
  readonly spec: EtcdInspectionSpec;
  readonly labels: Readonly<Record<string, string>>;
}

const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** The cluster label, when the name fits in a label value (63 characters); the owner reference links them either way. */
export function inspectionLabels(clusterName: string): Record<string, string> {
  return clusterName.length <= 63 && LABEL_VALUE.test(clusterName) ? { [CLUSTER_LABEL]: clusterName } : {};
}

export function desiredInspections(
  cluster: ValidEtcdCluster,
  interval: (feature: string) => number,
): DesiredInspection[] {
  return Object.entries(cluster.features)
    .filter(([, f]) => f.enabled)
    .map(([feature]) => ({
      name: inspectionName(cluster.name, feature),
      feature,
      spec: {
        clusterName: cluster.name,
        inspectionType: feature,
        inspectionProvider: cluster.clusterType,
        intervalInSecond: interval(feature),
      },
      labels: inspectionLabels(cluster.name),
    }));
}

export type InspectionAction =
  | { readonly kind: 'create'; readonly desired: DesiredInspection }
  | {
      readonly kind: 'update';
      readonly desired: DesiredInspection;
      readonly current: DeepReadonly<EtcdInspection>;
    }
  | { readonly kind: 'delete'; readonly current: DeepReadonly<EtcdInspection>; readonly why: string }
  /** An object of that name exists and is not ours: left alone, reported. */
  | {
      readonly kind: 'conflict';
      readonly desired: DesiredInspection;
      readonly current: DeepReadonly<EtcdInspection>;
    };

export function controlledBy(inspection: DeepReadonly<EtcdInspection>, uid: string | undefined): boolean {
  return (
    uid !== undefined &&
    (inspection.metadata.ownerReferences ?? []).some(
      (r) => r.controller === true && r.kind === ETCD_CLUSTER_KIND && r.uid === uid,
    )
  );
}

function labelsMatch(
  current: Readonly<Record<string, string>> | undefined,
  wanted: Readonly<Record<string, string>>,
): boolean {
  return Object.entries(wanted).every(([k, v]) => current?.[k] === v);
}

/**
 * What to create, update and delete. `existing(name)` reads an inspection of
 * the cluster's namespace by name; `owned` are the inspections controlled by
 * this cluster (any name). Inspections being deleted are waited for.
 */
export function planInspections(
  uid: string | undefined,
  desired: readonly DesiredInspection[],
  existing: (name: string) => DeepReadonly<EtcdInspection> | undefined,
  owned: readonly DeepReadonly<EtcdInspection>[],
): InspectionAction[] {
  const actions: InspectionAction[] = [];
  const wanted = new Set(desired.map((d) => d.name));
  for (const d of desired) {
    const current = existing(d.name);
    if (current === undefined) {
      actions.push({ kind: 'create', desired: d });
      continue;
    }
    if (current.metadata.deletionTimestamp !== undefined) continue;
    if (!controlledBy(current, uid)) {
      actions.push({ kind: 'conflict', desired: d, current });
      continue;
    }
    const spec = current.spec;
    if (spec.clusterName !== d.spec.clusterName || spec.inspectionType !== d.spec.inspectionType) {
      // Immutable fields: the object is replaced (recreated at the next sync, once it is gone).
      actions.push({ kind: 'delete', current, why: 'its cluster or type changed' });
    } else if (
      spec.inspectionProvider !== d.spec.inspectionProvider ||
      spec.intervalInSecond !== d.spec.intervalInSecond ||
      !labelsMatch(current.metadata.labels, d.labels)
    ) {
      actions.push({ kind: 'update', desired: d, current });
    }
  }
  for (const o of owned) {
    if (wanted.has(o.metadata.name) || o.metadata.deletionTimestamp !== undefined || !controlledBy(o, uid))
      continue;
    actions.push({ kind: 'delete', current: o, why: `feature ${o.spec.inspectionType} is not enabled` });
  }
  return actions;
}

/** The object to create for a desired inspection, owned (controller=true) by the cluster. */
export function newInspection(
  cluster: DeepReadonly<EtcdCluster>,
  d: DesiredInspection,
): ObjectInput<EtcdInspection> {
  return {
    metadata: {
      name: d.name,
      namespace: cluster.metadata.namespace ?? '',
      labels: { ...d.labels },
      ownerReferences: [controllerRef(cluster)],
    },
    spec: { ...d.spec },
  };
}
