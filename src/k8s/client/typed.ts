/**
 * A typed client per resource (client-gen's equivalent): get, list, watch,
 * create, update, merge patch, delete, and the status subresource. Every
 * object that comes back is checked against the resource's schema.
 */
import type { Problem } from '../api/validate.ts';
import type { ObjectMetaInput } from '../api/meta.ts';
import { apiErrorFrom, isExpired, KubeDecodeError, type KubeApiError } from './errors.ts';
import {
  collectionPath,
  decodeObject,
  objectPath,
  rawKey,
  resourceName,
  apiVersionOf,
  type KubeObjectLike,
  type ResourceDescriptor,
} from './resource.ts';
import type { DeepReadonly } from './store.ts';
import type { KubeTransport } from './transport.ts';
import { isRecord } from '../api/json.ts';

/** An object as sent to create: the server fills in the rest of metadata (and ignores status). */
export type ObjectInput<T extends KubeObjectLike> = DeepReadonly<
  Omit<T, 'apiVersion' | 'kind' | 'metadata' | 'status'>
> & {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata: DeepReadonly<ObjectMetaInput>;
};

/** RFC 7386 merge patch of T: fields to set, null to remove, arrays replaced whole. */
export type MergePatch<T> = T extends readonly unknown[]
  ? T
  : T extends object
    ? { readonly [K in keyof T]?: MergePatch<T[K]> | null }
    : T;

export interface RequestOptions {
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

export interface WriteOptions extends RequestOptions {
  /** Server-side dry run: validated and defaulted, not stored. */
  readonly dryRun?: boolean;
  readonly fieldManager?: string;
}

export interface ListOptions extends RequestOptions {
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  /** Page size (the client fetches every page); default 500. */
  readonly limit?: number;
}

/** An object the API returned that does not match its schema (left out of results). */
export interface Rejected {
  readonly key: string;
  readonly problems: readonly Problem[];
}

export interface ListResult<T> {
  readonly items: T[];
  /** The collection's resourceVersion: watch from here to miss nothing. */
  readonly resourceVersion: string;
  readonly rejected: readonly Rejected[];
}

export interface WatchOptions {
  readonly resourceVersion?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly allowWatchBookmarks?: boolean;
  /** The server ends the watch after this long (cleanly). */
  readonly timeoutSeconds?: number;
  /** Ends the watch. */
  readonly signal: AbortSignal;
  /** How long to wait for the server to accept the watch; default the transport's request timeout. */
  readonly connectTimeoutMs?: number;
}

export type WatchEvent<T> =
  | { readonly type: 'ADDED' | 'MODIFIED' | 'DELETED'; readonly object: T }
  | { readonly type: 'BOOKMARK'; readonly resourceVersion: string }
  /** The server ended the watch with a Status, e.g. 410 Expired. */
  | { readonly type: 'ERROR'; readonly error: KubeApiError }
  /** An object that does not match its schema; its resourceVersion still counts. */
  | {
      readonly type: 'INVALID';
      readonly key: string;
      readonly problems: readonly Problem[];
      readonly resourceVersion: string | undefined;
    };

export interface DeleteOptions extends RequestOptions {
  /** Delete only if the object still has this uid / resourceVersion. */
  readonly preconditions?: { readonly uid?: string; readonly resourceVersion?: string };
  readonly propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  readonly gracePeriodSeconds?: number;
}

function writeQuery(opts: WriteOptions | undefined): Record<string, string | undefined> {
  return { dryRun: opts?.dryRun ? 'All' : undefined, fieldManager: opts?.fieldManager };
}

export class ResourceClient<T extends KubeObjectLike> {
  readonly resource: ResourceDescriptor<T>;
  readonly #transport: KubeTransport;
  readonly #name: string;

  constructor(transport: KubeTransport, resource: ResourceDescriptor<T>) {
    this.#transport = transport;
    this.resource = resource;
    this.#name = resourceName(resource);
  }

  #what(verb: string, namespace: string | undefined, name?: string): string {
    const target =
      name === undefined
        ? namespace === undefined
          ? ' in all namespaces'
          : ` in namespace ${namespace}`
        : ` ${namespace !== undefined ? `${namespace}/` : ''}${name}`;
    return `${verb} ${this.#name}${target}`;
  }

  #decode(raw: unknown): T {
    return decodeObject(this.resource, raw);
  }

  async get(namespace: string | undefined, name: string, opts: RequestOptions = {}): Promise<T> {
    const body = await this.#transport.request({
      method: 'GET',
      path: objectPath(this.resource, namespace, name),
      what: this.#what('get', namespace, name),
      ...opts,
    });
    return this.#decode(body);
  }

  /**
   * Every object (all pages) at one resourceVersion. If the continue token
   * expires between pages, the list starts over without paging.
   */
  async list(namespace: string | undefined, opts: ListOptions = {}): Promise<ListResult<T>> {
    const path = collectionPath(this.resource, namespace);
    const what = this.#what('list', namespace);
    const base = { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector };
    const fetchAll = async (limit: number | undefined): Promise<ListResult<T>> => {
      const items: T[] = [];
      const rejected: Rejected[] = [];
      let cont: string | undefined;
      let resourceVersion = '';
      do {
        const body = await this.#transport.request({
          method: 'GET',
          path,
          what,
          signal: opts.signal,
          timeoutMs: opts.timeoutMs,
          query: { ...base, limit, continue: cont },
        });
        if (!isRecord(body) || !Array.isArray(body['items']) || !isRecord(body['metadata'])) {
          throw new KubeDecodeError(`${what}: the answer`, [{ field: '(root)', message: 'not a list' }]);
        }
        const meta = body['metadata'];
        resourceVersion = typeof meta['resourceVersion'] === 'string' ? meta['resourceVersion'] : '';
        cont = typeof meta['continue'] === 'string' && meta['continue'] !== '' ? meta['continue'] : undefined;
        for (const raw of body['items']) {
          try {
            items.push(this.#decode(raw));
          } catch (err) {
            if (!(err instanceof KubeDecodeError)) throw err;
            rejected.push({ key: rawKey(raw), problems: err.problems });
          }
        }
      } while (cont !== undefined);
      if (resourceVersion === '')
        throw new KubeDecodeError(`${what}: the answer`, [
          { field: 'metadata.resourceVersion', message: 'missing' },
        ]);
      return { items, resourceVersion, rejected };
    };
    try {
      return await fetchAll(opts.limit ?? 500);
    } catch (err) {
      // 410 on a continue token: the snapshot is gone; one consistent list instead.
      if (isExpired(err)) return fetchAll(undefined);
      throw err;
    }
  }

  /** Starts a watch; resolves once the server accepted it. Iterate the result for events. */
  async watch(namespace: string | undefined, opts: WatchOptions): Promise<AsyncIterable<WatchEvent<T>>> {
    const what = this.#what('watch', namespace);
    const lines = await this.#transport.stream({
      path: collectionPath(this.resource, namespace),
      query: {
        watch: 'true',
        resourceVersion: opts.resourceVersion,
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        allowWatchBookmarks: opts.allowWatchBookmarks === true ? 'true' : undefined,
        timeoutSeconds: opts.timeoutSeconds,
      },
      signal: opts.signal,
      ...(opts.connectTimeoutMs !== undefined && { connectTimeoutMs: opts.connectTimeoutMs }),
      what,
    });
    const decode = (raw: unknown): T => this.#decode(raw);
    return {
      async *[Symbol.asyncIterator]() {
        for await (const line of lines) {
          yield toWatchEvent(line, decode, what);
        }
      },
    };
  }

  async create(obj: ObjectInput<T>, opts: WriteOptions = {}): Promise<T> {
    const namespace = obj.metadata.namespace;
    const name = obj.metadata.name ?? obj.metadata.generateName ?? '';
    const body = { ...obj, apiVersion: apiVersionOf(this.resource), kind: this.resource.kind };
    const result = await this.#transport.request({
      method: 'POST',
      path: collectionPath(
        this.resource,
        this.resource.namespaced ? this.#requireNamespace(namespace, name) : undefined,
      ),
      query: writeQuery(opts),
      body,
      what: this.#what('create', namespace, name),
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
    return this.#decode(result);
  }

  /** PUT of the whole object; metadata.resourceVersion makes it fail with 409 Conflict when stale. Status is ignored by the server. */
  async update(obj: DeepReadonly<T>, opts: WriteOptions = {}): Promise<T> {
    return this.#put(obj, undefined, opts);
  }

  /** PUT of the status subresource: only .status changes (and the generation does not move). */
  async updateStatus(obj: DeepReadonly<T>, opts: WriteOptions = {}): Promise<T> {
    this.#requireStatus();
    return this.#put(obj, 'status', opts);
  }

  async #put(obj: DeepReadonly<T>, subresource: 'status' | undefined, opts: WriteOptions): Promise<T> {
    const { namespace, name } = obj.metadata;
    const result = await this.#transport.request({
      method: 'PUT',
      path: objectPath(this.resource, namespace, name, subresource),
      query: writeQuery(opts),
      body: obj,
      what: this.#what(subresource === 'status' ? 'update status of' : 'update', namespace, name),
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
    return this.#decode(result);
  }

  /** JSON merge patch (RFC 7386). Put metadata.resourceVersion in the patch for optimistic concurrency. */
  async patch(
    namespace: string | undefined,
    name: string,
    patch: MergePatch<T>,
    opts: WriteOptions = {},
  ): Promise<T> {
    return this.#mergePatch(namespace, name, patch, undefined, opts);
  }

  /** JSON merge patch of the status subresource. */
  async patchStatus(
    namespace: string | undefined,
    name: string,
    patch: MergePatch<T>,
    opts: WriteOptions = {},
  ): Promise<T> {
    this.#requireStatus();
    return this.#mergePatch(namespace, name, patch, 'status', opts);
  }

  async #mergePatch(
    namespace: string | undefined,
    name: string,
    patch: unknown,
    subresource: 'status' | undefined,
    opts: WriteOptions,
  ): Promise<T> {
    const result = await this.#transport.request({
      method: 'PATCH',
      path: objectPath(this.resource, namespace, name, subresource),
      query: writeQuery(opts),
      body: patch,
      contentType: 'application/merge-patch+json',
      what: this.#what(subresource === 'status' ? 'patch status of' : 'patch', namespace, name),
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
    return this.#decode(result);
  }

  /** Deletes; resolves when the server accepted it (finalizers may keep the object around with a deletionTimestamp). */
  async delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<void> {
    const body = {
      apiVersion: 'v1',
      kind: 'DeleteOptions',
      ...(opts.preconditions !== undefined && { preconditions: opts.preconditions }),
      ...(opts.propagationPolicy !== undefined && { propagationPolicy: opts.propagationPolicy }),
      ...(opts.gracePeriodSeconds !== undefined && { gracePeriodSeconds: opts.gracePeriodSeconds }),
    };
    await this.#transport.request({
      method: 'DELETE',
      path: objectPath(this.resource, namespace, name),
      body,
      what: this.#what('delete', namespace, name),
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
    });
  }

  #requireNamespace(namespace: string | undefined, name: string): string {
    if (namespace === undefined || namespace === '')
      throw new Error(`${this.#name} is namespaced: metadata.namespace is needed to create ${name}`);
    return namespace;
  }

  #requireStatus(): void {
    if (!this.resource.hasStatus) throw new Error(`${this.#name} has no status subresource`);
  }
}

/** One line of a watch stream as a typed event. */
export function toWatchEvent<T>(line: unknown, decode: (raw: unknown) => T, what: string): WatchEvent<T> {
  if (!isRecord(line) || typeof line['type'] !== 'string') {
    return { type: 'ERROR', error: apiErrorFrom(what, 500, 'the server sent a watch event without a type') };
  }
  const { type, object } = line;
  const meta = isRecord(object) && isRecord(object['metadata']) ? object['metadata'] : undefined;
  const resourceVersion = typeof meta?.['resourceVersion'] === 'string' ? meta['resourceVersion'] : undefined;
  switch (type) {
    case 'ADDED':
    case 'MODIFIED':
    case 'DELETED':
      try {
        return { type, object: decode(object) };
      } catch (err) {
        if (!(err instanceof KubeDecodeError)) throw err;
        return { type: 'INVALID', key: rawKey(object), problems: err.problems, resourceVersion };
      }
    case 'BOOKMARK':
      if (resourceVersion === undefined)
        return {
          type: 'ERROR',
          error: apiErrorFrom(what, 500, 'the server sent a bookmark without a resourceVersion'),
        };
      return { type: 'BOOKMARK', resourceVersion };
    case 'ERROR': {
      const code = isRecord(object) && typeof object['code'] === 'number' ? object['code'] : 500;
      return { type: 'ERROR', error: apiErrorFrom(what, code, object) };
    }
    default:
      return {
        type: 'ERROR',
        error: apiErrorFrom(what, 500, `the server sent a watch event of unknown type ${type}`),
      };
  }
}
