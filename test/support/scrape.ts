import { eventually } from '../../src/testing/wait.ts';

/** Reads a /metrics text into series -> value, for assertions on exact series. */
export function parseExposition(text: string): Map<string, number> {
  const series = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    series.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return series;
}

export async function scrape(address: string): Promise<Map<string, number>> {
  const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(5000) });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}`);
  return parseExposition(await res.text());
}

/** The series of one family, as "labels -> value". */
export function family(series: Map<string, number>, name: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, value] of series)
    if (key === name || key.startsWith(`${name}{`)) out.set(key.slice(name.length), value);
  return out;
}

/** Polls the /metrics at `address` until `series` (name{labels} as exposed) has `value`. */
export async function seriesReaches(
  address: string,
  series: string,
  value: number,
  what: string,
): Promise<void> {
  await eventually(async () => ((await scrape(address)).get(series) === value ? true : undefined), what);
}
