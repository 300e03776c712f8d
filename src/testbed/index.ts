/**
 * Test bed: real etcd clusters (3.4 from Debian, 3.5/3.6 built by
 * hack/build-etcd.sh), certificates and free ports, for the tests and the
 * `demo` command. Every process started here is stopped when the Node
 * process exits, however it exits.
 */
export {
  etcdBinaries,
  cacheDir,
  readVersionsEnv,
  ETCD_VERSIONS,
  type EtcdVersion,
  type EtcdBinaries,
  type BinaryEnv,
} from './binaries.ts';
export {
  generateCertificates,
  CLIENT_CERT_CN,
  type ServingCertOptions,
  type TestClusterTls,
} from './certs.ts';
export {
  startEtcdCluster,
  type StartClusterOptions,
  type TestCluster,
  type TestMember,
  type EtcdctlOptions,
} from './cluster.ts';
export { freePort } from './ports.ts';
export { httpGet, type HttpTls, type HttpResponse } from './http.ts';
export { trackedProcessCount } from './processes.ts';
export {
  startKubeApiserver,
  kubeApiserverBinary,
  type KubeApiserver,
  type StartKubeApiserverOptions,
  type ApiResponse,
  type RequestOpts,
} from './kube.ts';
