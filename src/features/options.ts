import type { TSchema, Static } from '@sinclair/typebox';
import { validate, ValidationError } from '../schema.ts';
import { OptionsError } from '../engine/contract.ts';

export function parseOptions<T extends TSchema>(feature: string, schema: T, raw: unknown): Static<T> {
  try {
    return validate(schema, raw ?? {}, `options of feature ${feature}`);
  } catch (err) {
    if (err instanceof ValidationError) throw new OptionsError(err.message);
    throw err;
  }
}
