/**
 * TLS material and credentials from the Secrets an EtcdCluster names: the
 * key names given in the spec, else the standard ones (ca.crt / tls.crt /
 * tls.key, then kstone's ca.pem / client.pem / client-key.pem; username /
 * password). Pure: the controller passes the Secret from its informer (or
 * undefined when there is none) and gets the access layer's types back, or
 * problems naming the field and the Secret. Values never enter a message.
 */
import { Secret as Credential, withoutTrailingNewline } from '../../etcd/secret.ts';
import { checkTlsMaterial } from '../../etcd/tls.ts';
import type { AuthCredentials, TlsMaterial } from '../../etcd/types.ts';
import { secretValue, type Secret } from './core.ts';
import { TLS_DEFAULT_KEYS } from './etcdcluster.ts';
import type { AuthRef, Problem, TlsRef, Validated } from './validate.ts';
import { errorMessage } from '../../errors.ts';

type SecretLike = Pick<Secret, 'data'> & {
  readonly metadata: { readonly name: string; readonly namespace?: string | undefined };
};

function secretLabel(namespace: string, name: string): string {
  return `Secret ${namespace}/${name}`;
}

/** The value of an explicit key, or of the first standard key present. */
function pick(
  secret: SecretLike,
  explicit: string | undefined,
  defaults: readonly string[],
): { key: string; value: string } | { missing: readonly string[] } {
  const candidates = explicit !== undefined ? [explicit] : defaults;
  for (const key of candidates) {
    const value = secretValue(secret, key);
    if (value !== undefined) return { key, value: value.toString('utf8') };
  }
  return { missing: candidates };
}

const keysText = (keys: readonly string[]): string => keys.map((k) => `"${k}"`).join(' or ');

/**
 * TLS material from the Secret. The CA is optional (system roots otherwise);
 * a certificate needs its key and the other way round; PEM is checked.
 */
export function tlsFromSecret(ref: TlsRef, secret: SecretLike | undefined): Validated<TlsMaterial> {
  const label = secretLabel(ref.secretNamespace, ref.secretName);
  if (secret === undefined)
    return { ok: false, problems: [{ field: ref.field, message: `${label} not found` }] };
  const problems: Problem[] = [];
  const ca = pick(secret, ref.caKey, TLS_DEFAULT_KEYS.ca);
  const cert = pick(secret, ref.certKey, TLS_DEFAULT_KEYS.cert);
  const key = pick(secret, ref.keyKey, TLS_DEFAULT_KEYS.key);
  // An explicitly named key must be there; standard ones are optional.
  for (const [found, explicit, name] of [
    [ca, ref.caKey, 'caKey'],
    [cert, ref.certKey, 'certKey'],
    [key, ref.keyKey, 'keyKey'],
  ] as const) {
    if ('missing' in found && explicit !== undefined)
      problems.push({ field: `${ref.field}.${name}`, message: `${label} has no key "${explicit}"` });
  }
  if ('value' in cert && 'missing' in key && ref.keyKey === undefined) {
    problems.push({
      field: ref.field,
      message: `${label} has a client certificate ("${cert.key}") but no key (${keysText(key.missing)})`,
    });
  }
  if ('value' in key && 'missing' in cert && ref.certKey === undefined) {
    problems.push({
      field: ref.field,
      message: `${label} has a client key ("${key.key}") but no certificate (${keysText(cert.missing)})`,
    });
  }
  if ('missing' in ca && 'missing' in cert && 'missing' in key && problems.length === 0) {
    problems.push({
      field: ref.field,
      message: `${label} holds none of the TLS keys (${keysText(TLS_DEFAULT_KEYS.ca)}, ${keysText(TLS_DEFAULT_KEYS.cert)}, ${keysText(TLS_DEFAULT_KEYS.key)})`,
    });
  }
  if (problems.length > 0) return { ok: false, problems };
  const material: TlsMaterial = {
    ...('value' in ca && { ca: ca.value }),
    ...('value' in cert && { cert: cert.value }),
    ...('value' in key && { key: new Credential(key.value) }),
  };
  try {
    checkTlsMaterial(material, {
      ...('key' in ca && { ca: `key "${ca.key}" of ${label}` }),
      ...('key' in cert && { cert: `key "${cert.key}" of ${label}` }),
      ...('key' in key && { key: `key "${key.key}" of ${label}` }),
    });
  } catch (err) {
    return {
      ok: false,
      problems: [{ field: ref.field, message: errorMessage(err) }],
    };
  }
  return { ok: true, value: material };
}

/** Username and password from the Secret; both keys must be there and non-empty. */
export function authFromSecret(ref: AuthRef, secret: SecretLike | undefined): Validated<AuthCredentials> {
  const label = secretLabel(ref.secretNamespace, ref.secretName);
  if (secret === undefined)
    return { ok: false, problems: [{ field: ref.field, message: `${label} not found` }] };
  const problems: Problem[] = [];
  const username = secretValue(secret, ref.usernameKey)?.toString('utf8').trim();
  // Bytes, not text: a password that is not UTF-8 is sent as it is (etcd compares bytes).
  const password = secretValue(secret, ref.passwordKey);
  if (username === undefined || username === '')
    problems.push({
      field: `${ref.field}.usernameKey`,
      message: `${label} has no (or an empty) key "${ref.usernameKey}"`,
    });
  // A trailing newline is what `echo pw > file; kubectl create secret --from-file` leaves.
  const cleaned = password === undefined ? undefined : withoutTrailingNewline(password);
  if (cleaned === undefined || cleaned.length === 0)
    problems.push({
      field: `${ref.field}.passwordKey`,
      message: `${label} has no (or an empty) key "${ref.passwordKey}"`,
    });
  if (problems.length > 0 || username === undefined || cleaned === undefined) return { ok: false, problems };
  return { ok: true, value: { username, password: new Credential(cleaned) } };
}
