/**
 * A small reader of Prometheus's text exposition format (version 0.0.4, what
 * etcd serves on /metrics), keeping only the families asked for: an etcd
 * member exports ~1,500 series and the performance feature reads about 15
 * families of them. The input is bounded by the caller (the HTTP client caps
 * the body); a malformed line is an error naming its line number.
 *
 * No npm package was taken: the maintained ones parse OpenMetrics through
 * protobuf or pull a client library in; the one plain-text parser on npm
 * (parse-prometheus-text-format) has had no release since 2019.
 */

export interface Sample {
  /** The series name as written: a histogram's are `<family>_bucket`, `_sum`, `_count`. */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export class ExpositionError extends Error {
  override name = 'ExpositionError';
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const HISTOGRAM_SUFFIXES = ['_bucket', '_sum', '_count'] as const;

/** The family a series belongs to, when it is one of `wanted` (a histogram's series by their suffix). */
function familyOf(name: string, wanted: ReadonlySet<string>): string | undefined {
  if (wanted.has(name)) return name;
  for (const suffix of HISTOGRAM_SUFFIXES) {
    if (name.endsWith(suffix)) {
      const family = name.slice(0, -suffix.length);
      if (wanted.has(family)) return family;
    }
  }
  return undefined;
}

function parseValue(text: string, lineNo: number): number {
  switch (text) {
    case '+Inf':
    case 'Inf':
      return Number.POSITIVE_INFINITY;
    case '-Inf':
      return Number.NEGATIVE_INFINITY;
    case 'NaN':
      return Number.NaN;
  }
  const value = Number(text);
  if (text === '' || Number.isNaN(value))
    throw new ExpositionError(`line ${lineNo}: bad value ${JSON.stringify(text.slice(0, 40))}`);
  return value;
}

/** Labels from just after `{` up to and including `}`; returns them and the index after `}`. */
function parseLabels(
  line: string,
  start: number,
  lineNo: number,
): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start;
  const fail = (what: string): never => {
    throw new ExpositionError(`line ${lineNo}: ${what} at column ${i + 1}`);
  };
  for (;;) {
    while (line[i] === ' ') i++;
    if (line[i] === '}') return { labels, end: i + 1 };
    const name = NAME.exec(line.slice(i))?.[0];
    if (name === undefined) fail('expected a label name');
    i += (name as string).length;
    while (line[i] === ' ') i++;
    if (line[i] !== '=') fail('expected =');
    i++;
    while (line[i] === ' ') i++;
    if (line[i] !== '"') fail('expected "');
    i++;
    let value = '';
    for (;;) {
      const c = line[i];
      if (c === undefined) fail('unterminated label value');
      if (c === '"') break;
      if (c === '\\') {
        const next = line[i + 1];
        value += next === 'n' ? '\n' : next === '"' ? '"' : next === '\\' ? '\\' : fail('bad escape');
        i += 2;
        continue;
      }
      value += c;
      i++;
    }
    i++;
    // Own property only: a label named __proto__ stays a plain key.
    Object.defineProperty(labels, name as string, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
    while (line[i] === ' ') i++;
    if (line[i] === ',') {
      i++;
      continue;
    }
    if (line[i] !== '}') fail('expected , or }');
  }
}

/**
 * The samples of the wanted families, by family name (a histogram's
 * `_bucket`, `_sum` and `_count` series under the histogram's name).
 * Families not present are absent from the map.
 */
export function parseExposition(text: string, wanted: Iterable<string>): Map<string, Sample[]> {
  const want = new Set(wanted);
  const families = new Map<string, Sample[]>();
  let lineNo = 0;
  let from = 0;
  while (from <= text.length) {
    let to = text.indexOf('\n', from);
    if (to === -1) to = text.length;
    const line = text.slice(from, to).replace(/\r$/, '');
    from = to + 1;
    lineNo++;
    if (line === '' || line.startsWith('#')) continue;
    const name = NAME.exec(line)?.[0];
    if (name === undefined) throw new ExpositionError(`line ${lineNo}: expected a metric name`);
    const family = familyOf(name, want);
    // Lines of families nobody asked for are skipped unparsed: most of the page.
    if (family === undefined) continue;
    let i = name.length;
    let labels: Record<string, string> = {};
    if (line[i] === '{') ({ labels, end: i } = parseLabels(line, i + 1, lineNo));
    if (line[i] !== ' ' && line[i] !== '\t')
      throw new ExpositionError(`line ${lineNo}: expected a space before the value`);
    // value, then an optional timestamp (ignored: a scrape is one instant).
    const [valueText = ''] = line
      .slice(i)
      .trim()
      .split(/[ \t]+/);
    const value = parseValue(valueText, lineNo);
    let samples = families.get(family);
    if (samples === undefined) {
      samples = [];
      families.set(family, samples);
    }
    samples.push({ name, labels, value });
  }
  return families;
}
