// AWS Signature Version 4 for OTLP requests to AWS's own endpoints (X-Ray, CloudWatch Logs,
// CloudWatch metrics) and for the AWS API calls that resolve secrets at start-up.
//
// Signing is AWS's own signer (@smithy/signature-v4) with a SHA-256 backed by node:crypto (native,
// no JavaScript hashing). Both are loaded on the first signature, never at start-up: a function
// that does not use an AWS destination or an AWS secret pays nothing for them.
//
// Credentials are read from the environment at every signature (Lambda gives extensions the
// function's role credentials as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN), so
// a change of credentials is picked up at the next request. The signer caches derived signing keys
// per credentials and day, so re-reading costs a few property reads.

import { nodeBuiltin } from '../platform/node-builtin.js';
import type { AwsCredentialIdentity, HttpRequest } from '@smithy/types';

type Env = Readonly<Record<string, string | undefined>>;

/** Which AWS service and region a request is signed for. Plain data: it sits in destination configs. */
export interface SigV4Scope {
  /** Signing name: `xray`, `logs`, `monitoring`, `secretsmanager`, `ssm`, … */
  service: string;
  region: string;
}

export class MissingCredentialsError extends Error {
  override readonly name = 'MissingCredentialsError';
}

/** The function's credentials, or undefined when the access key or secret key is not set. */
export function credentialsFromEnv(env: Env): AwsCredentialIdentity | undefined {
  const accessKeyId = env['AWS_ACCESS_KEY_ID']?.trim();
  const secretAccessKey = env['AWS_SECRET_ACCESS_KEY']?.trim();
  if (!accessKeyId || !secretAccessKey) return undefined;
  const sessionToken = env['AWS_SESSION_TOKEN']?.trim();
  return sessionToken ? { accessKeyId, secretAccessKey, sessionToken } : { accessKeyId, secretAccessKey };
}

type SourceData = string | ArrayBuffer | ArrayBufferView;
type Crypto = typeof import('node:crypto');

function toBuffer(data: SourceData): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}

/** The Checksum the signer asks for (SHA-256, or HMAC-SHA-256 when given a key), on node:crypto. */
function nodeSha256(crypto: Crypto) {
  return class NodeSha256 {
    private hash: import('node:crypto').Hash | import('node:crypto').Hmac;
    constructor(private readonly secret?: SourceData) {
      this.hash = this.create();
    }
    private create() {
      return this.secret === undefined
        ? crypto.createHash('sha256')
        : crypto.createHmac('sha256', toBuffer(this.secret));
    }
    update(data: SourceData): void {
      this.hash.update(toBuffer(data));
    }
    digest(): Promise<Uint8Array> {
      return Promise.resolve(new Uint8Array(this.hash.digest()));
    }
    reset(): void {
      this.hash = this.create();
    }
  };
}

export interface SignInput {
  url: URL;
  method?: string;
  /** Lower-case names. `host` is added from the URL. */
  headers: Record<string, string>;
  body: Buffer;
}

export interface SignerOptions {
  env?: Env;
  /** For tests: the signing time. */
  now?: () => Date;
}

type SignatureModule = typeof import('@smithy/signature-v4');

interface SignerModule {
  SignatureV4: typeof import('@smithy/signature-v4').SignatureV4;
  Sha256: ReturnType<typeof nodeSha256>;
}

let loaded: Promise<SignerModule> | undefined;

/** Loads the signer and node:crypto once, on first use. */
function loadSigner(): Promise<SignerModule> {
  // The package's ES module build: it bundles to ~15 KB where the CommonJS one pulls in ~120 KB,
  // and costs about half the CPU to load.
  loaded ??= import('@smithy/signature-v4/dist-es/index.js').then((m: SignatureModule) => ({
    SignatureV4: m.SignatureV4,
    Sha256: nodeSha256(nodeBuiltin('node:crypto')),
  }));
  return loaded;
}

/**
 * Signs requests for one service and region. Returns the headers to send: the input headers plus
 * `host`, `x-amz-date`, `x-amz-content-sha256`, `x-amz-security-token` (temporary credentials) and
 * `authorization`. Throws MissingCredentialsError when the environment has no credentials.
 */
export class SigV4Signer {
  private readonly env: Env;
  private readonly now: () => Date;
  private signer: InstanceType<SignerModule['SignatureV4']> | undefined;

  constructor(
    readonly scope: SigV4Scope,
    options: SignerOptions = {},
  ) {
    this.env = options.env ?? process.env;
    this.now = options.now ?? (() => new Date());
  }

  async sign(input: SignInput): Promise<Record<string, string>> {
    const credentials = credentialsFromEnv(this.env);
    if (!credentials) {
      throw new MissingCredentialsError(
        `cannot sign for ${this.scope.service}: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set`,
      );
    }
    if (!this.signer) {
      const { SignatureV4, Sha256 } = await loadSigner();
      this.signer = new SignatureV4({
        service: this.scope.service,
        region: this.scope.region,
        // Read at every signature: credentials that change are used from the next request on.
        credentials: () => {
          const c = credentialsFromEnv(this.env);
          if (!c) return Promise.reject(new MissingCredentialsError('AWS credentials are no longer set'));
          return Promise.resolve(c);
        },
        sha256: Sha256,
        uriEscapePath: true,
        applyChecksum: true,
      });
    }
    const { url } = input;
    const request: HttpRequest = {
      method: input.method ?? 'POST',
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port !== '' && { port: Number(url.port) }),
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      headers: { ...input.headers, host: url.host },
      body: input.body,
    };
    const signed = await this.signer.sign(request, { signingDate: this.now() });
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(signed.headers)) out[name.toLowerCase()] = value;
    return out;
  }
}
