/**
 * The etcd protos as a JSON descriptor (src/etcd/proto/etcd.json), so the
 * client does not parse .proto files at every start (issue 8 point 3: ~50 ms
 * of CPU per start); codec.ts imports it. `npm run gen:protos` writes it from
 * the .proto files; src/etcd/v3/codec.test.ts checks the checked-in file
 * matches them. Only the generator and the tests load this module.
 */
import path from 'node:path';
import protobuf from 'protobufjs';

export const PROTO_DIR = path.join(import.meta.dirname, '..', 'proto');
export const DESCRIPTOR_FILE = path.join(PROTO_DIR, 'etcd.json');

/**
 * The descriptor of etcd.proto (and what it imports) as protobufjs writes it,
 * with the field names as written (keepCase, as the codec reads them).
 */
export function descriptorFromProtos(): string {
  const root = new protobuf.Root().loadSync(path.join(PROTO_DIR, 'etcd.proto'), { keepCase: true });
  root.resolveAll();
  return `${JSON.stringify(root.toJSON(), null, 2)}\n`;
}
