/**
 * The client layer (client-gen, lister-gen and informer-gen's equivalents):
 * kubeconfig loading as kubectl does it, a transport with the credentials,
 * typed clients per resource, informers and listers.
 */
export {
  loadKubeConfig,
  inClusterConfig,
  KubeConfigError,
  type Credentials,
  type KubeConfigEnv,
  type KubeConfigFlags,
  type RestConfig,
} from './kubeconfig.ts';
export { CredentialError } from './credentials.ts';
export { KubeTransport, type KubeRequest, type Query, type TransportOptions } from './transport.ts';
export {
  KubeApiError,
  KubeDecodeError,
  KubeTransportError,
  apiErrorFrom,
  isAlreadyExists,
  isConflict,
  isExpired,
  isForbidden,
  isInvalid,
  isNotFound,
  isTransient,
  isUnauthorized,
  type StatusCause,
} from './errors.ts';
export {
  apiVersionOf,
  collectionPath,
  decodeObject,
  describeResource,
  etcdClusterResource,
  etcdInspectionResource,
  eventResource,
  leaseResource,
  keyOf,
  objectPath,
  resourceName,
  secretResource,
  type KubeObjectLike,
  type ResourceDescriptor,
} from './resource.ts';
export {
  ResourceClient,
  toWatchEvent,
  type DeleteOptions,
  type ListOptions,
  type ListResult,
  type MergePatch,
  type ObjectInput,
  type Rejected,
  type RequestOptions,
  type WatchEvent,
  type WatchOptions,
  type WriteOptions,
} from './typed.ts';
export { createClients, type Clients } from './clients.ts';
export {
  deepFreeze,
  Store,
  type DeepReadonly,
  type IndexFunc,
  type Lister,
  type Retention,
  type RetentionStats,
} from './store.ts';
export {
  LabelSelectorError,
  matchesSelector,
  parseLabelSelector,
  type LabelSelector,
  type Requirement,
} from './selector.ts';
export { Backoff, type BackoffOptions } from '../../backoff.ts';
export {
  createInformer,
  Informer,
  listerWatcher,
  SilentWatchError,
  type EventHandler,
  type InformerLogger,
  type InformerOptions,
  type InformerScope,
  type InformerStats,
  type ListerWatcher,
} from './informer.ts';
