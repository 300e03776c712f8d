import { readFile } from 'node:fs/promises';

export interface DocRow {
  /** A family name, or a pattern ending in `*` for a documented group. */
  readonly name: string;
  readonly type: string;
  readonly labels: string[];
}

/** The rows of the tables in docs/metrics.md; a cell naming several families gives one row each. */
export async function documentedMetrics(): Promise<DocRow[]> {
  const text = await readFile(new URL('../../docs/metrics.md', import.meta.url), 'utf8');
  const rows: DocRow[] = [];
  for (const line of text.split('\n')) {
    const m = /^\| ((?:`[^`]+`(?:, )?)+) \| ([a-z]+) \|([^|]*)\|/.exec(line);
    if (m === null) continue;
    const labels = m[3]!
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s !== '');
    for (const name of m[1]!.matchAll(/`([^`]+)`/g)) rows.push({ name: name[1]!, type: m[2]!, labels });
  }
  return rows;
}

/** Whether a family name is documented, exactly or by a `prefix_*` row. */
export function isDocumented(rows: readonly DocRow[], family: string): boolean {
  return rows.some((r) =>
    r.name.endsWith('*') ? family.startsWith(r.name.slice(0, -1)) : r.name === family,
  );
}
