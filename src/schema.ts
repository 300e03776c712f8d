import type { Static, TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';

export class ValidationError extends Error {
  override name = 'ValidationError';
  readonly problems: readonly string[];

  constructor(where: string, problems: readonly string[]) {
    super(`${where}: ${problems.join('; ')}`);
    this.problems = problems;
  }
}

/** "/clusters/0/features/healthy/intervalSeconds" -> "clusters[0].features.healthy.intervalSeconds" */
export function formatPath(pointer: string): string {
  if (pointer === '') return '(root)';
  return pointer
    .split('/')
    .slice(1)
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'))
    .reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc === '' ? part : `${acc}.${part}`), '');
}

/**
 * Applies the schema's defaults to a copy of `value` and checks it strictly
 * (schemas set additionalProperties: false), naming every offending field.
 */
export function validate<T extends TSchema>(schema: T, value: unknown, where: string): Static<T> {
  const withDefaults = Value.Default(schema, Value.Clone(value)) as unknown;
  if (Value.Check(schema, withDefaults)) return withDefaults;
  const problems: string[] = [];
  for (const error of Value.Errors(schema, withDefaults)) {
    const field = formatPath(error.path);
    const text = error.message.replace(/^Expected/, 'expected');
    const problem = /Unexpected property/.test(error.message) ? `unknown field ${field}` : `${field}: ${text}`;
    if (!problems.includes(problem)) problems.push(problem);
    if (problems.length >= 10) break;
  }
  throw new ValidationError(where, problems);
}
