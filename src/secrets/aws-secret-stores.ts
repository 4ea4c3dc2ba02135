// Reads one value from Secrets Manager (GetSecretValue) or Parameter Store (GetParameter, decrypted)
// with a SigV4-signed request: the AWS JSON 1.1 protocol is one POST, so no AWS SDK is needed (the
// SDK clients would cost far more at start-up than the request itself).
//
// Endpoints follow what the AWS SDKs honour: AWS_ENDPOINT_URL_SECRETS_MANAGER / AWS_ENDPOINT_URL_SSM,
// then AWS_ENDPOINT_URL, then the regional endpoint. Errors carry the service's error code and HTTP
// status, never a response body (it could echo a value).

import { nodeBuiltin } from '../platform/node-builtin.js';
import { SigV4Signer } from '../export/sigv4-signer.js';
import type { SecretReference, SecretStore } from './references.js';

type Env = Readonly<Record<string, string | undefined>>;

/** Why a reference could not be resolved; the message never contains a secret value. */
export class SecretLookupError extends Error {
  override readonly name = 'SecretLookupError';
}

interface StoreSpec {
  signingName: string;
  target: string;
  endpointEnv: string;
  host: string;
  body(ref: SecretReference): Record<string, unknown>;
}

const STORES: Record<SecretStore, StoreSpec> = {
  secretsmanager: {
    signingName: 'secretsmanager',
    target: 'secretsmanager.GetSecretValue',
    endpointEnv: 'AWS_ENDPOINT_URL_SECRETS_MANAGER',
    host: 'secretsmanager',
    body: (ref) => ({ SecretId: ref.id }),
  },
  ssm: {
    signingName: 'ssm',
    target: 'AmazonSSM.GetParameter',
    endpointEnv: 'AWS_ENDPOINT_URL_SSM',
    host: 'ssm',
    body: (ref) => ({ Name: ref.id, WithDecryption: true }),
  },
};

function dnsSuffix(region: string): string {
  return region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com';
}

export function regionFor(ref: SecretReference, env: Env): string | undefined {
  return ref.region ?? (env['AWS_REGION']?.trim() || env['AWS_DEFAULT_REGION']?.trim() || undefined);
}

export function storeEndpoint(store: SecretStore, region: string, env: Env): URL {
  const spec = STORES[store];
  const override = env[spec.endpointEnv]?.trim() || env['AWS_ENDPOINT_URL']?.trim();
  return new URL(override || `https://${spec.host}.${region}.${dnsSuffix(region)}/`);
}

interface RawResponse {
  status: number;
  body: Buffer;
}

const MAX_RESPONSE_BYTES = 256 * 1024;

function post(url: URL, headers: Record<string, string>, body: Buffer, signal: AbortSignal) {
  // One request signature for both: https.request takes what http.request takes, plus TLS options.
  const transport = (
    url.protocol === 'https:' ? nodeBuiltin('node:https') : nodeBuiltin('node:http')
  ) as typeof import('node:http');
  return new Promise<RawResponse>((resolve, reject) => {
    const request = transport.request(
      url,
      { method: 'POST', headers: { ...headers, 'content-length': String(body.length) }, signal },
      (res) => {
        const parts: Buffer[] = [];
        let size = 0;
        res.on('data', (part: Buffer) => {
          size += part.length;
          if (size > MAX_RESPONSE_BYTES) {
            request.destroy(new SecretLookupError('the response is too large'));
            return;
          }
          parts.push(part);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts) }));
        res.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

/** The AWS error code of a failed call: JSON `__type` (AWS JSON protocol) or XML `<Code>`. */
function errorCode(body: Buffer): string | undefined {
  const text = body.subarray(0, 4096).toString('utf8');
  try {
    const parsed = JSON.parse(text) as { __type?: unknown; code?: unknown };
    const type = typeof parsed.__type === 'string' ? parsed.__type : parsed.code;
    if (typeof type === 'string') return type.slice(type.lastIndexOf('#') + 1).slice(0, 80);
  } catch {
    // not JSON
  }
  const xml = /<Code>([A-Za-z0-9.]{1,80})<\/Code>/.exec(text);
  return xml?.[1];
}

export interface LookupOptions {
  env: Env;
  signal: AbortSignal;
}

/** Fetches the raw value (secret string, or parameter value) of one reference. */
export async function fetchSecretValue(ref: SecretReference, options: LookupOptions): Promise<string> {
  const spec = STORES[ref.store];
  const region = regionFor(ref, options.env);
  if (!region) throw new SecretLookupError('no region: give an ARN or set AWS_REGION');
  const url = storeEndpoint(ref.store, region, options.env);
  const body = Buffer.from(JSON.stringify(spec.body(ref)));
  const signer = new SigV4Signer({ service: spec.signingName, region }, { env: options.env });
  const headers = await signer.sign({
    url,
    headers: { 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': spec.target },
    body,
  });
  let response: RawResponse;
  try {
    response = await post(url, headers, body, options.signal);
  } catch (error) {
    if (options.signal.aborted) throw error;
    const code = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new SecretLookupError(`${url.host} cannot be reached (${code})`);
  }
  if (response.status !== 200) {
    const code = errorCode(response.body) ?? 'error';
    throw new SecretLookupError(`${code} (HTTP ${response.status})`);
  }
  let parsed: { SecretString?: unknown; SecretBinary?: unknown; Parameter?: { Value?: unknown } };
  try {
    parsed = JSON.parse(response.body.toString('utf8'));
  } catch {
    throw new SecretLookupError('the answer is not JSON');
  }
  if (ref.store === 'ssm') {
    const value = parsed.Parameter?.Value;
    if (typeof value !== 'string') throw new SecretLookupError('the answer has no Parameter.Value');
    return value;
  }
  if (typeof parsed.SecretString === 'string') return parsed.SecretString;
  if (typeof parsed.SecretBinary === 'string') {
    return Buffer.from(parsed.SecretBinary, 'base64').toString('utf8');
  }
  throw new SecretLookupError('the secret has no SecretString');
}

/** Picks `#key` from a secret holding a JSON object; errors name the key, never the content. */
export function pickJsonKey(secret: string, key: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(secret);
  } catch {
    throw new SecretLookupError(`#${key} asked for, but the secret is not a JSON object`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new SecretLookupError(`#${key} asked for, but the secret is not a JSON object`);
  }
  const value = (parsed as Record<string, unknown>)[key];
  if (value === undefined) throw new SecretLookupError(`the secret has no key ${JSON.stringify(key)}`);
  return typeof value === 'string' ? value : JSON.stringify(value);
}
