/**
 * Loads the minimal etcd protos (as the precompiled descriptor, see
 * descriptor.ts) with protobufjs's light build and turns the loosely typed
 * objects it decodes into the typed results of the contract. Every 64-bit
 * field arrives as a decimal string (longs: String) and leaves as bigint: a
 * Number would silently round member IDs and large revisions.
 *
 * The codecs are what @grpc/proto-loader would build (fromObject + encode,
 * decode + toObject with the same conversion options), without its full
 * protobufjs and the file descriptors it encodes for gRPC reflection, which
 * nothing here uses: about a sixth of `inspect`'s start-up CPU
 * (docs/performance.md, "Start-up and memory").
 */
import protobuf from 'protobufjs/light.js';
import type {
  AlarmMember,
  AlarmType,
  HashKVResult,
  KeyValue,
  LeaseGrantResult,
  LeaseKeepAliveResult,
  MemberInfo,
  MemberListResult,
  RangeResult,
  ResponseHeader,
  StatusResult,
  WatchEvent,
  WatchMessage,
} from '../types.ts';
import descriptor from '../proto/etcd.json' with { type: 'json' };

/** A method's path and codecs (request/response are plain objects); grpc-js's MethodDefinition shape. */
export interface MethodDef {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  readonly requestSerialize: (value: object) => Buffer;
  /** Used by tests' servers to read requests. */
  readonly requestDeserialize: (bytes: Buffer) => unknown;
  readonly responseDeserialize: (bytes: Buffer) => unknown;
  /** Used by tests to build server answers. */
  readonly responseSerialize: (value: object) => Buffer;
}

export interface EtcdMethods {
  readonly range: MethodDef;
  readonly put: MethodDef;
  readonly deleteRange: MethodDef;
  readonly compact: MethodDef;
  readonly watch: MethodDef;
  readonly memberList: MethodDef;
  readonly alarm: MethodDef;
  readonly status: MethodDef;
  readonly defragment: MethodDef;
  readonly hashKV: MethodDef;
  readonly authenticate: MethodDef;
  readonly leaseGrant: MethodDef;
  readonly leaseRevoke: MethodDef;
  readonly leaseKeepAlive: MethodDef;
}

/** The services of etcd.proto by short name ("KV", "Maintenance", ...), each a map of method name to definition. */
export type EtcdServices = Readonly<Record<string, Readonly<Record<string, MethodDef>>>>;

let methods: EtcdMethods | undefined;

/** Built once per process; the definitions are immutable and shared by all clients. */
export function etcdMethods(): EtcdMethods {
  methods ??= loadMethods();
  return methods;
}

// 64-bit numbers as decimal strings (never rounded), enums by name, bytes as Buffers.
const TO_OBJECT: protobuf.IConversionOptions = {
  longs: String,
  enums: String,
  bytes: Buffer,
  defaults: true,
  oneofs: true,
};

function serializer(type: protobuf.Type): (value: object) => Buffer {
  return (value) => {
    if (Array.isArray(value)) throw new Error(`cannot encode ${type.name}: expected an object, got an array`);
    const bytes = type.encode(type.fromObject(value)).finish();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  };
}

function deserializer(type: protobuf.Type): (bytes: Buffer) => unknown {
  return (bytes) => type.toObject(type.decode(bytes), TO_OBJECT);
}

/** The etcdserverpb services of the descriptor with grpc-js method definitions (field names as in the protos). */
export function loadEtcdServices(): EtcdServices {
  const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);
  root.resolveAll();
  const services: Record<string, Record<string, MethodDef>> = {};
  const pkg = root.lookup('etcdserverpb');
  if (!(pkg instanceof protobuf.Namespace)) throw new Error('etcd.json: no etcdserverpb package');
  for (const service of pkg.nestedArray) {
    if (!(service instanceof protobuf.Service)) continue;
    const defs: Record<string, MethodDef> = {};
    for (const method of service.methodsArray) {
      method.resolve();
      const request = method.resolvedRequestType;
      const response = method.resolvedResponseType;
      if (request === null || response === null)
        throw new Error(`etcd.json: ${service.name}.${method.name} has unresolved types`);
      defs[method.name] = {
        path: `/etcdserverpb.${service.name}/${method.name}`,
        requestStream: method.requestStream === true,
        responseStream: method.responseStream === true,
        requestSerialize: serializer(request),
        requestDeserialize: deserializer(request),
        responseSerialize: serializer(response),
        responseDeserialize: deserializer(response),
      };
    }
    services[service.name] = defs;
  }
  return services;
}

function loadMethods(): EtcdMethods {
  const services = loadEtcdServices();
  const method = (service: string, name: string): MethodDef => {
    const m = services[service]?.[name];
    if (m === undefined) throw new Error(`etcd.json: missing ${service}.${name}`);
    return m;
  };
  return {
    range: method('KV', 'Range'),
    put: method('KV', 'Put'),
    deleteRange: method('KV', 'DeleteRange'),
    compact: method('KV', 'Compact'),
    watch: method('Watch', 'Watch'),
    memberList: method('Cluster', 'MemberList'),
    alarm: method('Maintenance', 'Alarm'),
    status: method('Maintenance', 'Status'),
    defragment: method('Maintenance', 'Defragment'),
    hashKV: method('Maintenance', 'HashKV'),
    authenticate: method('Auth', 'Authenticate'),
    leaseGrant: method('Lease', 'LeaseGrant'),
    leaseRevoke: method('Lease', 'LeaseRevoke'),
    leaseKeepAlive: method('Lease', 'LeaseKeepAlive'),
  };
}

// ---- field readers ---------------------------------------------------------------

/** A response that does not have the shape the proto promises. */
export class DecodeError extends Error {
  override name = 'DecodeError';
}

type Obj = Readonly<Record<string, unknown>>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function obj(v: unknown, what: string): Obj {
  if (!isObject(v)) throw new DecodeError(`${what}: expected a message, got ${typeof v}`);
  return v;
}

/** 64-bit integer field: decimal string from the codec (a number is tolerated). */
function int64(o: Obj, field: string): bigint {
  const v = o[field];
  if (v === undefined || v === null) return 0n;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v)) return BigInt(v);
  throw new DecodeError(`${field}: expected a 64-bit integer, got ${JSON.stringify(v)}`);
}

function uint32(o: Obj, field: string): number {
  const v = o[field];
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff) return v;
  throw new DecodeError(`${field}: expected a uint32, got ${JSON.stringify(v)}`);
}

function str(o: Obj, field: string): string {
  const v = o[field];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new DecodeError(`${field}: expected a string`);
  return v;
}

function bool(o: Obj, field: string): boolean {
  const v = o[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw new DecodeError(`${field}: expected a boolean`);
  return v;
}

function bytes(o: Obj, field: string): Buffer {
  const v = o[field];
  if (v === undefined || v === null) return Buffer.alloc(0);
  if (!Buffer.isBuffer(v)) throw new DecodeError(`${field}: expected bytes`);
  return v;
}

function list(o: Obj, field: string): readonly unknown[] {
  const v = o[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new DecodeError(`${field}: expected a list`);
  return v;
}

function strList(o: Obj, field: string): string[] {
  return list(o, field).map((s) => {
    if (typeof s !== 'string') throw new DecodeError(`${field}: expected strings`);
    return s;
  });
}

/** An enum field (enums: String): the name, or the number for a value this proto does not know. */
function enumValue(o: Obj, field: string): string | number {
  const v = o[field];
  if (v === undefined || v === null) return 0;
  if (typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v))) return v;
  throw new DecodeError(`${field}: expected an enum value`);
}

// ---- messages ----------------------------------------------------------------------

const ZERO_HEADER: ResponseHeader = { clusterId: 0n, memberId: 0n, revision: 0n, raftTerm: 0n };

export function decodeHeader(v: unknown): ResponseHeader {
  if (v === null || v === undefined) return ZERO_HEADER;
  const o = obj(v, 'header');
  return {
    clusterId: int64(o, 'cluster_id'),
    memberId: int64(o, 'member_id'),
    revision: int64(o, 'revision'),
    raftTerm: int64(o, 'raft_term'),
  };
}

function header(o: Obj): ResponseHeader {
  return decodeHeader(o['header']);
}

export function decodeKeyValue(v: unknown): KeyValue {
  const o = obj(v, 'kv');
  return {
    key: bytes(o, 'key'),
    value: bytes(o, 'value'),
    createRevision: int64(o, 'create_revision'),
    modRevision: int64(o, 'mod_revision'),
    version: int64(o, 'version'),
    lease: int64(o, 'lease'),
  };
}

export function decodeRange(v: unknown): RangeResult {
  const o = obj(v, 'RangeResponse');
  return {
    header: header(o),
    kvs: list(o, 'kvs').map(decodeKeyValue),
    more: bool(o, 'more'),
    count: int64(o, 'count'),
  };
}

export function decodeHeaderOnly(v: unknown): ResponseHeader {
  return header(obj(v, 'response'));
}

export function decodeLeaseGrant(v: unknown): LeaseGrantResult {
  const o = obj(v, 'LeaseGrantResponse');
  const error = str(o, 'error');
  if (error !== '') throw new DecodeError(`lease refused: ${error}`);
  return { header: header(o), id: int64(o, 'ID'), ttlSeconds: Number(int64(o, 'TTL')) };
}

export function decodeLeaseKeepAlive(v: unknown): LeaseKeepAliveResult {
  const o = obj(v, 'LeaseKeepAliveResponse');
  return { header: header(o), id: int64(o, 'ID'), ttlSeconds: Number(int64(o, 'TTL')) };
}

export function decodeDeleteRange(v: unknown): { header: ResponseHeader; deleted: bigint } {
  const o = obj(v, 'DeleteRangeResponse');
  return { header: header(o), deleted: int64(o, 'deleted') };
}

export function decodeMember(v: unknown): MemberInfo {
  const o = obj(v, 'member');
  return {
    id: int64(o, 'ID'),
    name: str(o, 'name'),
    peerURLs: strList(o, 'peerURLs'),
    clientURLs: strList(o, 'clientURLs'),
    isLearner: bool(o, 'isLearner'),
  };
}

export function decodeMemberList(v: unknown): MemberListResult {
  const o = obj(v, 'MemberListResponse');
  return { header: header(o), members: list(o, 'members').map(decodeMember) };
}

export function decodeStatus(v: unknown): StatusResult {
  const o = obj(v, 'StatusResponse');
  return {
    header: header(o),
    version: str(o, 'version'),
    dbSize: int64(o, 'dbSize'),
    dbSizeInUse: int64(o, 'dbSizeInUse'),
    leader: int64(o, 'leader'),
    raftIndex: int64(o, 'raftIndex'),
    raftTerm: int64(o, 'raftTerm'),
    raftAppliedIndex: int64(o, 'raftAppliedIndex'),
    errors: strList(o, 'errors'),
    isLearner: bool(o, 'isLearner'),
    // Absent before 3.6: proto3 defaults give 0 and ''.
    dbSizeQuota: int64(o, 'dbSizeQuota'),
    storageVersion: str(o, 'storageVersion'),
  };
}

const ALARM_NUMBERS: Readonly<Record<string, number>> = { NONE: 0, NOSPACE: 1, CORRUPT: 2 };

export function alarmTypeOf(v: string | number): AlarmType {
  if (v === 'NOSPACE' || v === 'CORRUPT') return v;
  const n = typeof v === 'number' ? v : (ALARM_NUMBERS[v] ?? -1);
  return `UNKNOWN_${n}`;
}

/** The enum value to send for an AlarmType (UNKNOWN_<n> goes back as n). */
export function alarmTypeToWire(t: AlarmType): string | number {
  if (t === 'NOSPACE' || t === 'CORRUPT') return t;
  const n = Number(t.slice('UNKNOWN_'.length));
  if (!Number.isInteger(n) || n < 0) throw new DecodeError(`invalid alarm type ${t}`);
  return n;
}

/** Alarms as etcd lists them. memberId 0 (cluster-wide CORRUPT) is kept on purpose. */
export function decodeAlarms(v: unknown): AlarmMember[] {
  const o = obj(v, 'AlarmResponse');
  return list(o, 'alarms').map((a) => {
    const ao = obj(a, 'alarm');
    return { memberId: int64(ao, 'memberID'), alarm: alarmTypeOf(enumValue(ao, 'alarm')) };
  });
}

export function decodeHashKV(v: unknown): HashKVResult {
  const o = obj(v, 'HashKVResponse');
  return {
    header: header(o),
    hash: uint32(o, 'hash'),
    compactRevision: int64(o, 'compact_revision'),
    hashRevision: int64(o, 'hash_revision'),
  };
}

export function decodeToken(v: unknown): string {
  return str(obj(v, 'AuthenticateResponse'), 'token');
}

function decodeEvent(v: unknown): WatchEvent {
  const o = obj(v, 'event');
  const t = enumValue(o, 'type');
  if (t !== 'PUT' && t !== 'DELETE') throw new DecodeError(`event type: unknown value ${JSON.stringify(t)}`);
  const prev = o['prev_kv'];
  return prev === null || prev === undefined
    ? { type: t, kv: decodeKeyValue(o['kv']) }
    : { type: t, kv: decodeKeyValue(o['kv']), prevKv: decodeKeyValue(prev) };
}

/** The raw flags of a watch response, needed by the client before it decides what to yield. */
export interface RawWatchResponse {
  readonly created: boolean;
  readonly canceled: boolean;
  readonly cancelReason: string;
  readonly compactRevision: bigint;
  readonly fragment: boolean;
  readonly messages: readonly WatchMessage[];
}

/**
 * One WatchResponse becomes zero to two messages: a creation response is
 * 'created' (followed by 'compacted'/'canceled' when etcd refused the watch in
 * the same response); a response with events is 'events'; one with neither
 * events nor a flag is a progress notification.
 */
export function decodeWatchResponse(v: unknown): RawWatchResponse {
  const o = obj(v, 'WatchResponse');
  const h = header(o);
  const created = bool(o, 'created');
  const canceled = bool(o, 'canceled');
  const cancelReason = str(o, 'cancel_reason');
  const compactRevision = int64(o, 'compact_revision');
  const fragment = bool(o, 'fragment');
  const events = list(o, 'events').map(decodeEvent);
  const messages: WatchMessage[] = [];
  if (created) messages.push({ kind: 'created', header: h });
  if (events.length > 0) messages.push({ kind: 'events', header: h, events });
  if (compactRevision > 0n) {
    messages.push({ kind: 'compacted', compactRevision });
  } else if (canceled) {
    messages.push({ kind: 'canceled', reason: cancelReason });
  } else if (!created && events.length === 0) {
    messages.push({ kind: 'progress', header: h });
  }
  return { created, canceled, cancelReason, compactRevision, fragment, messages };
}
