/**
 * Label selectors in Kubernetes' text form (`--label-selector`):
 *   a=b, a==b, a!=b, a in (x,y), a notin (x,y), a, !a
 * joined by commas (all must hold). Parsed once, so that a bad selector is
 * reported at start-up, and matched against cached objects by the listers.
 */

export type Requirement =
  | { readonly key: string; readonly op: 'in' | 'notin'; readonly values: readonly string[] }
  | { readonly key: string; readonly op: 'exists' | 'doesnotexist' };

export interface LabelSelector {
  readonly requirements: readonly Requirement[];
  /** Canonical text (what the server is sent). */
  readonly text: string;
}

export class LabelSelectorError extends Error {
  override name = 'LabelSelectorError';
}

const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function checkKey(key: string, selector: string): string {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const ok =
    NAME.test(name) &&
    name.length <= 63 &&
    (prefix === undefined || (PREFIX.test(prefix) && prefix.length <= 253));
  if (!ok) throw new LabelSelectorError(`label selector "${selector}": "${key}" is not a valid label key`);
  return key;
}

function checkValue(value: string, selector: string): string {
  if (value !== '' && (!NAME.test(value) || value.length > 63)) {
    throw new LabelSelectorError(`label selector "${selector}": "${value}" is not a valid label value`);
  }
  return value;
}

/** Splits at commas outside parentheses. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const ch of text) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += ch;
    }
  }
  parts.push(current);
  return parts;
}

/** Parses a selector; the empty string selects everything. Throws LabelSelectorError. */
export function parseLabelSelector(text: string): LabelSelector {
  const requirements: Requirement[] = [];
  const trimmed = text.trim();
  if (trimmed !== '') {
    for (const rawPart of splitTopLevel(trimmed)) {
      const part = rawPart.trim();
      if (part === '') throw new LabelSelectorError(`label selector "${text}": empty requirement`);
      const setMatch = /^(\S+?)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part);
      const equalityMatch = /^([^=!\s]+)\s*(==|=|!=)\s*([^=!\s]*)$/.exec(part);
      const absentMatch = /^!\s*(\S+)$/.exec(part);
      if (setMatch !== null) {
        const m = setMatch;
        const values = m[3]!.split(',').map((v) => checkValue(v.trim(), text));
        if (values.length === 0 || (values.length === 1 && values[0] === '' && m[3]!.trim() === '')) {
          throw new LabelSelectorError(`label selector "${text}": ${m[2]} needs at least one value`);
        }
        requirements.push({ key: checkKey(m[1]!, text), op: m[2] as 'in' | 'notin', values });
      } else if (equalityMatch !== null) {
        const m = equalityMatch;
        requirements.push({
          key: checkKey(m[1]!, text),
          op: m[2] === '!=' ? 'notin' : 'in',
          values: [checkValue(m[3]!, text)],
        });
      } else if (absentMatch !== null) {
        requirements.push({ key: checkKey(absentMatch[1]!, text), op: 'doesnotexist' });
      } else if (/^\S+$/.test(part) && !/[=!<>()]/.test(part)) {
        requirements.push({ key: checkKey(part, text), op: 'exists' });
      } else {
        throw new LabelSelectorError(
          `label selector "${text}": cannot parse "${part}" (use key=value, key!=value, key in (a,b), key notin (a,b), key or !key)`,
        );
      }
    }
  }
  const canonical = requirements
    .map((r) => {
      switch (r.op) {
        case 'exists':
          return r.key;
        case 'doesnotexist':
          return `!${r.key}`;
        case 'in':
          return r.values.length === 1 ? `${r.key}=${r.values[0]}` : `${r.key} in (${r.values.join(',')})`;
        case 'notin':
          return r.values.length === 1
            ? `${r.key}!=${r.values[0]}`
            : `${r.key} notin (${r.values.join(',')})`;
      }
    })
    .join(',');
  return { requirements, text: canonical };
}

/** Whether labels satisfy every requirement (notin and != also match when the label is absent, as in Kubernetes). */
export function matchesSelector(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.requirements.every((r) => {
    const has = Object.hasOwn(labels, r.key);
    switch (r.op) {
      case 'exists':
        return has;
      case 'doesnotexist':
        return !has;
      case 'in':
        return has && r.values.includes(labels[r.key]!);
      case 'notin':
        return !has || !r.values.includes(labels[r.key]!);
    }
  });
}
