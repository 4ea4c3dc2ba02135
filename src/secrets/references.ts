// References to AWS-held secrets inside configuration values, with the Collector's confmap-provider
// syntax:
//   ${secretsmanager:<secret ARN or name>}          the secret's string
//   ${secretsmanager:<secret ARN or name>#<key>}    one key of a secret holding a JSON object
//   ${ssm:/parameter/name}  or  ${ssm:<parameter ARN>}   a Parameter Store value (decrypted)
// They may appear in any string setting (a header, an API key, an endpoint), from a file or from a
// variable, whole or inside a longer value. The loader leaves them in place; they are resolved once
// at start-up (resolve.ts) and the resolved text is never expanded again.

export type SecretStore = 'secretsmanager' | 'ssm';

export interface SecretReference {
  /** The reference as written, `${…}` included: what messages name (never the value). */
  text: string;
  store: SecretStore;
  /** Secret ARN or name, or parameter name or ARN. */
  id: string;
  /** For `#key`: the JSON key to pick from the secret. */
  jsonKey: string | undefined;
  /** The region in the ARN, when the id is one. */
  region: string | undefined;
}

const REFERENCE = /\$\{(secretsmanager|ssm):([^}]*)\}/g;
const ARN = /^arn:aws[a-z-]*:(secretsmanager|ssm):([a-z0-9-]+):\d{12}:(secret|parameter)[:/]/;

/** True when the text contains at least one reference (a quick test before walking). */
export function hasSecretReference(text: string): boolean {
  return text.includes('${secretsmanager:') || text.includes('${ssm:');
}

/** Parses one reference; a string describing the problem when malformed. */
export function parseSecretReference(store: SecretStore, body: string): SecretReference | string {
  const text = `\${${store}:${body}}`;
  let id = body.trim();
  let jsonKey: string | undefined;
  if (store === 'secretsmanager') {
    const hash = id.lastIndexOf('#');
    if (hash >= 0) {
      jsonKey = id.slice(hash + 1);
      id = id.slice(0, hash);
      if (jsonKey === '') return `${text}: empty key after #`;
    }
  }
  if (id === '') return `${text}: no secret named`;
  let region: string | undefined;
  if (id.startsWith('arn:')) {
    const m = ARN.exec(id);
    if (!m || m[1] !== store) return `${text}: not a ${store === 'ssm' ? 'parameter' : 'secret'} ARN`;
    region = m[2];
  } else if (store === 'ssm' && !id.startsWith('/') && /\s/.test(id)) {
    return `${text}: parameter names have no spaces`;
  }
  return { text, store, id, jsonKey, region };
}

/** Every reference in one string, in order; malformed ones as problem strings. */
export function findSecretReferences(value: string): (SecretReference | string)[] {
  const out: (SecretReference | string)[] = [];
  for (const m of value.matchAll(REFERENCE)) {
    out.push(parseSecretReference(m[1] as SecretStore, m[2] as string));
  }
  return out;
}

/** Replaces every reference in `value` with its resolved text (looked up by SecretReference.text). */
export function substituteSecrets(value: string, resolved: ReadonlyMap<string, string>): string {
  return value.replace(REFERENCE, (whole) => resolved.get(whole) ?? whole);
}

/** A string found in a configuration object, with its dotted path (for messages). */
export interface FoundString {
  path: string;
  value: string;
}

/** Walks plain objects and arrays; yields the strings that contain a reference. */
export function stringsWithReferences(root: unknown, path = '', out: FoundString[] = []): FoundString[] {
  if (typeof root === 'string') {
    if (hasSecretReference(root)) out.push({ path, value: root });
  } else if (Array.isArray(root)) {
    root.forEach((item, i) => {
      stringsWithReferences(item, `${path}[${i}]`, out);
    });
  } else if (root !== null && typeof root === 'object') {
    for (const [key, child] of Object.entries(root)) {
      stringsWithReferences(child, path ? `${path}.${key}` : key, out);
    }
  }
  return out;
}

/** A copy of `root` with every reference substituted; other values are shared. */
export function replaceInTree<T>(root: T, resolved: ReadonlyMap<string, string>): T {
  if (typeof root === 'string') {
    return (hasSecretReference(root) ? substituteSecrets(root, resolved) : root) as T;
  }
  if (Array.isArray(root)) return root.map((item) => replaceInTree(item, resolved)) as T;
  if (root !== null && typeof root === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, child] of Object.entries(root)) out[key] = replaceInTree(child, resolved);
    return out as T;
  }
  return root;
}
