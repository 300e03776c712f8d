import { Type, type TSchema, type Static } from '@sinclair/typebox';
import { validate, ValidationError } from '../schema.ts';
import { OptionsError } from '../engine/contract.ts';

/** Options of a feature that takes none: anything given is a mistake worth naming. */
export const NoOptions = Type.Object({}, { additionalProperties: false });

export function parseOptions<T extends TSchema>(feature: string, schema: T, raw: unknown): Static<T> {
  try {
    return validate(schema, raw ?? {}, `options of feature ${feature}`);
  } catch (err) {
    if (err instanceof ValidationError) throw new OptionsError(err.message);
    throw err;
  }
}
