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
    .reduce(
      (acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc === '' ? part : `${acc}.${part}`),
      '',
    );
}

/**
 * Applies the schema's defaults to a copy of `value` and checks it strictly
 * (schemas set additionalProperties: false), naming every offending field.
 */
export function validate<T extends TSchema>(schema: T, value: unknown, where: string): Static<T> {
  const withDefaults = Value.Default(schema, Value.Clone(value)) as unknown;
  if (Value.Check(schema, withDefaults)) return withDefaults;
  const problems: string[] = [];
  const missing = new Set<string>();
  for (const error of Value.Errors(schema, withDefaults)) {
    const field = formatPath(error.path);
    if (missing.has(field)) continue;
    let problem: string;
    if (/Unexpected property/.test(error.message)) {
      problem = `unknown field ${field}`;
    } else if (/Expected required property/.test(error.message)) {
      // A missing field also fails its type check: one message is enough.
      missing.add(field);
      problem = `${field}: missing required field`;
    } else {
      problem = `${field}: ${error.message.replace(/^Expected/, 'expected')}`;
    }
    if (!problems.includes(problem)) problems.push(problem);
    if (problems.length >= 10) break;
  }
  throw new ValidationError(where, problems);
}
