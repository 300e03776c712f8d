/**
 * The core objects the operator reads besides its own kinds: Secrets (TLS
 * material and passwords of clusters). Only what is used is typed.
 */
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from './meta.ts';

export const Secret = Type.Object({
  apiVersion: Type.Literal('v1'),
  kind: Type.Literal('Secret'),
  metadata: ObjectMeta,
  type: Type.Optional(Type.String()),
  /** Values are base64, as the API sends them. */
  data: Type.Optional(Type.Record(Type.String(), Type.String())),
  immutable: Type.Optional(Type.Boolean()),
});
export type Secret = Static<typeof Secret>;

/** The decoded bytes of one key of a Secret, or undefined when the key is absent. */
export function secretValue(
  secret: { readonly data?: Readonly<Record<string, string>> | undefined },
  key: string,
): Buffer | undefined {
  const encoded = secret.data?.[key];
  return encoded === undefined ? undefined : Buffer.from(encoded, 'base64');
}
