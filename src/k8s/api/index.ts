/**
 * etcdmonitor.dev/v1alpha1: EtcdCluster and EtcdInspection (types, runtime
 * checks, CRDs), the core Secret shape, kstone compatibility, validation.
 */
export {
  API_VERSION,
  clip,
  kubeMicroTime,
  GROUP,
  VERSION,
  Condition,
  ConditionStatus,
  controllerRef,
  kubeTime,
  ObjectMeta,
  OwnerReference,
  objectKey,
  splitObjectKey,
  type ObjectMetaInput,
} from './meta.ts';
export {
  ANNOTATION_CERT_NAME,
  ANNOTATION_FEATURE_GATES,
  AUTH_DEFAULT_KEYS,
  AuthSecretRef,
  CLUSTER_CONDITIONS,
  CLUSTER_PHASES,
  CLUSTER_TYPES,
  DEFAULT_FEATURES,
  ENDPOINT_PATTERN,
  ETCD_CLUSTER_CRD,
  ETCD_CLUSTER_KIND,
  EtcdCluster,
  EtcdClusterSpec,
  EtcdClusterStatus,
  FeatureGateStatus,
  FeatureSettings,
  KNOWN_FEATURES,
  MemberStatus,
  TLS_DEFAULT_KEYS,
  TlsSecretRef,
  type ClusterConditionType,
  type ClusterPhase,
  type ClusterType,
} from './etcdcluster.ts';
export {
  DEFAULT_INSPECTION_PROVIDER,
  ETCD_INSPECTION_CRD,
  ETCD_INSPECTION_KIND,
  EtcdInspection,
  EtcdInspectionSpec,
  EtcdInspectionStatus,
  INSPECTION_PHASES,
  InspectionResult,
  inspectionName,
  type InspectionPhase,
} from './etcdinspection.ts';
export { CoreEvent, Lease, LeaseSpec, ObjectReference, Secret, secretValue } from './core.ts';
export { parseCertName, parseFeatureGates, type CertNameRef, type FeatureGates } from './kstone.ts';
export {
  formatProblems,
  knownFeaturesOnly,
  schemaProblems,
  validateEtcdCluster,
  validateEtcdInspection,
  type AuthRef,
  type FeatureValidator,
  type Problem,
  type ResolvedFeature,
  type TlsRef,
  type ValidateClusterOptions,
  type Validated,
  type ValidEtcdCluster,
  type ValidEtcdInspection,
} from './validate.ts';
export { authFromSecret, tlsFromSecret } from './secrets.ts';
export { findCondition, sameConditions, setCondition, type ConditionInput } from './conditions.ts';
export {
  buildCrd,
  CRD_DEFINITIONS,
  crdFileName,
  crdYaml,
  NonStructuralSchemaError,
  toStructural,
  type CrdDefinition,
  type PrinterColumn,
} from './crd.ts';
