/**
 * The etcd protos as a JSON descriptor (src/etcd/proto/etcd.json), so the
 * client does not parse .proto files at every start (issue 8 point 3: ~50 ms
 * of CPU per start). `npm run gen:protos` writes it from the .proto files;
 * src/etcd/v3/codec.test.ts checks the checked-in file matches them.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as Protobuf from 'protobufjs';

export const PROTO_DIR = path.join(import.meta.dirname, '..', 'proto');
export const DESCRIPTOR_FILE = path.join(PROTO_DIR, 'etcd.json');

/**
 * The descriptor of etcd.proto (and what it imports) as protobufjs writes it,
 * with the field names as written (keepCase, as the codec reads them). Uses
 * the protobufjs of @grpc/proto-loader, the one that reads the descriptor.
 */
export function descriptorFromProtos(): string {
  const protobuf = createRequire(import.meta.resolve('@grpc/proto-loader'))('protobufjs') as typeof Protobuf;
  const root = new protobuf.Root().loadSync(path.join(PROTO_DIR, 'etcd.proto'), { keepCase: true });
  root.resolveAll();
  return `${JSON.stringify(root.toJSON(), null, 2)}\n`;
}

/** The checked-in descriptor (written by descriptorFromProtos). */
export function readDescriptor(): Protobuf.INamespace {
  // Our own generated file, checked against the .proto files by a test.
  return JSON.parse(readFileSync(DESCRIPTOR_FILE, 'utf8')) as Protobuf.INamespace;
}
