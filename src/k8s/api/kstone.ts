/**
 * kstone's annotations, for people migrating their EtcdCluster objects:
 *   featureGates: "alarm=true,consistency=true,healthy=true,request=true"
 *   certName: "<namespace>/<secret>" or "<secret>"
 * Pure parsers; validate.ts merges them with the spec (spec fields win).
 */

export interface FeatureGates {
  /** Feature name → enabled, in the order written. */
  readonly gates: ReadonlyMap<string, boolean>;
  /** One message per malformed entry. */
  readonly problems: readonly string[];
}

const GATE_NAME = /^[A-Za-z][A-Za-z0-9-]*$/;

/** Parses `name=true,name=false`; blanks around entries are ignored, a name given twice is a problem. */
export function parseFeatureGates(text: string): FeatureGates {
  const gates = new Map<string, boolean>();
  const problems: string[] = [];
  for (const raw of text.split(',')) {
    const entry = raw.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    const name = (eq < 0 ? entry : entry.slice(0, eq)).trim();
    const value =
      eq < 0
        ? undefined
        : entry
            .slice(eq + 1)
            .trim()
            .toLowerCase();
    if (!GATE_NAME.test(name) || (value !== 'true' && value !== 'false')) {
      problems.push(`entry "${entry}" is not name=true or name=false`);
      continue;
    }
    // kstone wrote feature names in lower case; accept "Healthy" as "healthy".
    const key = name.toLowerCase();
    if (gates.has(key)) {
      problems.push(`feature "${key}" is given twice`);
      continue;
    }
    gates.set(key, value === 'true');
  }
  return { gates, problems };
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export type CertNameRef =
  | { readonly ok: true; readonly namespace: string; readonly name: string }
  | { readonly ok: false; readonly problem: string };

/** `<namespace>/<secret>` or `<secret>` (then in `defaultNamespace`, the object's own). */
export function parseCertName(text: string, defaultNamespace: string): CertNameRef {
  const value = text.trim();
  const parts = value.split('/');
  if (parts.length > 2 || value === '')
    return { ok: false, problem: `"${text}" is not <namespace>/<secret> or <secret>` };
  const [namespace, name] = parts.length === 2 ? [parts[0]!, parts[1]!] : [defaultNamespace, parts[0]!];
  if (!DNS_LABEL.test(namespace) || namespace.length > 63)
    return { ok: false, problem: `"${namespace}" is not a valid namespace name` };
  if (!DNS_SUBDOMAIN.test(name) || name.length > 253)
    return { ok: false, problem: `"${name}" is not a valid Secret name` };
  return { ok: true, namespace, name };
}
