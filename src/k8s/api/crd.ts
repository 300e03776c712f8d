/**
 * TypeBox schema → CRD (apiextensions.k8s.io/v1) with a structural
 * openAPIV3Schema. TypeBox emits JSON Schema that Kubernetes does not accept
 * as is; the translation is explicit and refuses anything non-structural, so
 * a schema change that the apiserver would reject fails here first:
 *   - unions of literals of one type become `enum`, a single literal too;
 *   - records (patternProperties) become `additionalProperties`, or are left
 *     open with x-kubernetes-preserve-unknown-fields when the schema says so;
 *   - every node must end up with a `type`;
 *   - other keys (description, default, bounds, pattern, format, x-kubernetes-*)
 *     pass through.
 */
import type { TSchema } from '@sinclair/typebox';
import { stringify } from 'yaml';
import { ETCD_CLUSTER_CRD } from './etcdcluster.ts';
import { ETCD_INSPECTION_CRD } from './etcdinspection.ts';
import { GROUP, VERSION } from './meta.ts';
import { isRecord } from './json.ts';

export type JsonSchemaProps = { [key: string]: unknown };

export class NonStructuralSchemaError extends Error {
  override name = 'NonStructuralSchemaError';
}

const PASS_THROUGH = new Set([
  'description',
  'default',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'multipleOf',
  'minLength',
  'maxLength',
  'pattern',
  'format',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'nullable',
  'x-kubernetes-validations',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-int-or-string',
  'x-kubernetes-embedded-resource',
]);
// Keys TypeBox adds for itself (the Kind and Optional markers are symbols and never seen here).
const DROPPED = new Set(['$id', '$schema', 'title', 'examples', 'readOnly', 'writeOnly']);
const SCALAR_TYPES = new Set(['string', 'integer', 'number', 'boolean']);

const KEY_ORDER = ['type', 'description', 'enum', 'format', 'default'];
const TRAILING_KEYS = ['properties', 'required', 'additionalProperties', 'items'];

/** type and description first, nested schemas last: the order people read CRDs in. */
function ordered(props: JsonSchemaProps): JsonSchemaProps {
  const rank = (key: string): number => {
    const head = KEY_ORDER.indexOf(key);
    if (head >= 0) return head;
    const tail = TRAILING_KEYS.indexOf(key);
    return tail >= 0 ? 100 + tail : key.startsWith('x-kubernetes-') ? 50 : 10;
  };
  return Object.fromEntries(Object.entries(props).sort(([a], [b]) => rank(a) - rank(b)));
}

/** The structural openAPIV3Schema of a TypeBox schema; throws NonStructuralSchemaError naming the path. */
export function toStructural(schema: TSchema | Record<string, unknown>, path = '(root)'): JsonSchemaProps {
  return ordered(convert(schema, path));
}

function convert(schema: TSchema | Record<string, unknown>, path: string): JsonSchemaProps {
  const s = schema as Record<string, unknown>;
  const out: JsonSchemaProps = {};
  for (const [key, value] of Object.entries(s)) {
    if (PASS_THROUGH.has(key)) out[key] = structuredClone(value);
    else if (
      !DROPPED.has(key) &&
      ![
        'type',
        'properties',
        'required',
        'items',
        'patternProperties',
        'additionalProperties',
        'anyOf',
        'const',
        'enum',
      ].includes(key)
    ) {
      throw new NonStructuralSchemaError(`${path}: keyword "${key}" has no place in a CRD schema`);
    }
  }

  if (Array.isArray(s['anyOf'])) {
    const members = s['anyOf'] as unknown[];
    const types = new Set(members.map((m) => (isRecord(m) ? m['type'] : undefined)));
    const literals = members.every((m) => isRecord(m) && 'const' in m);
    const type = [...types][0];
    if (!literals || types.size !== 1 || typeof type !== 'string' || !SCALAR_TYPES.has(type)) {
      throw new NonStructuralSchemaError(
        `${path}: only unions of literals of one scalar type are structural`,
      );
    }
    out['type'] = type;
    out['enum'] = members.map((m) => (m as Record<string, unknown>)['const']);
    return out;
  }
  if ('const' in s) {
    out['type'] = s['type'];
    out['enum'] = [s['const']];
    return out;
  }
  if (Array.isArray(s['enum'])) out['enum'] = structuredClone(s['enum']);

  const type = s['type'];
  if (typeof type !== 'string') {
    throw new NonStructuralSchemaError(`${path}: no type (a structural schema needs one on every node)`);
  }
  out['type'] = type;
  if (type === 'object') {
    const properties = s['properties'];
    const pattern = s['patternProperties'];
    const additional = s['additionalProperties'];
    if (isRecord(properties) && Object.keys(properties).length > 0) {
      out['properties'] = Object.fromEntries(
        Object.entries(properties).map(([k, v]) => [k, toStructural(v as TSchema, `${path}.${k}`)]),
      );
      if (Array.isArray(s['required']) && s['required'].length > 0)
        out['required'] = [...(s['required'] as string[])];
    }
    if (isRecord(pattern)) {
      const entries = Object.entries(pattern);
      if (out['properties'] !== undefined || entries.length !== 1)
        throw new NonStructuralSchemaError(
          `${path}: a map must have exactly one value schema and no properties`,
        );
      if (s['x-kubernetes-preserve-unknown-fields'] !== true) {
        out['additionalProperties'] = toStructural(entries[0]![1] as TSchema, `${path}[*]`);
      }
    } else if (additional === false) {
      // Unknown fields are pruned anyway; a rejection would only break old clients.
      throw new NonStructuralSchemaError(
        `${path}: additionalProperties: false is not how CRDs refuse fields (they prune them)`,
      );
    } else if (isRecord(additional)) {
      out['additionalProperties'] = toStructural(additional as TSchema, `${path}[*]`);
    }
    if (
      out['properties'] === undefined &&
      out['additionalProperties'] === undefined &&
      out['x-kubernetes-preserve-unknown-fields'] !== true
    ) {
      throw new NonStructuralSchemaError(
        `${path}: an object needs properties, a value schema or x-kubernetes-preserve-unknown-fields`,
      );
    }
  } else if (type === 'array') {
    if (!isRecord(s['items'])) throw new NonStructuralSchemaError(`${path}: an array needs items`);
    out['items'] = toStructural(s['items'] as TSchema, `${path}[]`);
  } else if (!SCALAR_TYPES.has(type)) {
    throw new NonStructuralSchemaError(`${path}: type ${type} is not allowed`);
  }
  return out;
}

export interface PrinterColumn {
  readonly name: string;
  readonly type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  readonly jsonPath: string;
  readonly description?: string;
  readonly priority?: number;
}

export interface CrdDefinition {
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
  readonly categories: readonly string[];
  readonly spec: TSchema;
  readonly status: TSchema;
  readonly printerColumns: readonly PrinterColumn[];
}

/** The CustomResourceDefinition object of one kind (namespaced, one served and stored version, status subresource). */
export function buildCrd(def: CrdDefinition): Record<string, unknown> {
  const spec = toStructural(def.spec, 'spec');
  const status = toStructural(def.status, 'status');
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind,
        listKind: def.listKind,
        plural: def.plural,
        singular: def.singular,
        shortNames: [...def.shortNames],
        categories: [...def.categories],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: def.printerColumns.map((c) => ({ ...c })),
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: `${def.kind} of etcd-monitor (${GROUP}/${VERSION}).`,
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status,
              },
            },
          },
        },
      ],
    },
  };
}

export const CRD_DEFINITIONS: readonly CrdDefinition[] = [ETCD_CLUSTER_CRD, ETCD_INSPECTION_CRD];

/** File name of a kind's CRD under deploy/crds/ (kubebuilder's convention). */
export function crdFileName(def: CrdDefinition): string {
  return `${GROUP}_${def.plural}.yaml`;
}

const HEADER = '# Generated by hack/gen-crds.ts from src/k8s/api/ — do not edit; run `npm run gen:crds`.\n';

/** The YAML text of a CRD file, byte for byte what hack/gen-crds.ts writes. */
export function crdYaml(def: CrdDefinition): string {
  return HEADER + stringify(buildCrd(def), { lineWidth: 0, aliasDuplicateObjects: false });
}
