/**
 * Loads the minimal etcd protos (as the precompiled descriptor, see
 * descriptor.ts) and turns the loosely typed objects produced
 * by @grpc/proto-loader into the typed results of the contract. Every 64-bit
 * field arrives as a decimal string (longs: String) and leaves as bigint: a
 * Number would silently round member IDs and large revisions.
 */
import * as protoLoader from '@grpc/proto-loader';
import type {
  AlarmMember,
  AlarmType,
  HashKVResult,
  KeyValue,
  MemberInfo,
  MemberListResult,
  RangeResult,
  ResponseHeader,
  StatusResult,
  WatchEvent,
  WatchMessage,
} from '../types.ts';
import { readDescriptor } from './descriptor.ts';

/** The proto-loader method definition shape we need (request/response are plain objects). */
export interface MethodDef {
  readonly path: string;
  readonly requestSerialize: (value: object) => Buffer;
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
}

let methods: EtcdMethods | undefined;

/** Parsed once per process; the definitions are immutable and shared by all clients. */
export function etcdMethods(): EtcdMethods {
  methods ??= loadMethods();
  return methods;
}

/** The project's etcd protos as grpc-js loads them: 64-bit numbers as strings (never rounded), bytes as Buffers. */
export function loadEtcdProto(): protoLoader.PackageDefinition {
  // keepCase is a parse option: the descriptor was written with it.
  return protoLoader.fromJSON(readDescriptor(), {
    keepCase: true,
    longs: String,
    enums: String,
    bytes: Buffer,
    defaults: true,
    oneofs: true,
  });
}

function loadMethods(): EtcdMethods {
  const def = loadEtcdProto();
  const method = (service: string, name: string): MethodDef => {
    const svc = def[`etcdserverpb.${service}`];
    if (svc === undefined || !(name in svc)) throw new Error(`etcd.proto: missing ${service}.${name}`);
    const m: unknown = (svc as Record<string, unknown>)[name];
    if (
      !isObject(m) ||
      typeof m['path'] !== 'string' ||
      typeof m['requestSerialize'] !== 'function' ||
      typeof m['responseDeserialize'] !== 'function' ||
      typeof m['responseSerialize'] !== 'function'
    ) {
      throw new Error(`etcd.proto: ${service}.${name} is not a method`);
    }
    return m as unknown as MethodDef;
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

/** 64-bit integer field: decimal string from proto-loader (a number is tolerated). */
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
