// Resolves the secret references of a loaded configuration once, at start-up, before anything is
// exported: `${secretsmanager:…}` / `${ssm:…}` in any string setting, and the Datadog API key held in
// the secret `datadog.api_key_secret_arn` (DD_API_KEY_SECRET_ARN) when no key is set directly.
//
// Lookups run concurrently (one per distinct secret or parameter) under one time budget
// (`secrets.timeout_ms`): start-up never waits longer. A reference that cannot be resolved (missing,
// access denied, unreachable, out of time) becomes a configuration error naming the reference and
// the reason, never the value; the extension then runs in pass-through mode like for any invalid
// configuration. Resolved values live only in the returned configuration: they are not logged and
// not part of self-telemetry.

import type { ConfigError, LoadedConfig } from '../config/index.js';
import type { Scheduler } from '../model/time.js';
import { fetchSecretValue, type LookupOptions, pickJsonKey } from './aws-secret-stores.js';
import {
  findSecretReferences,
  parseSecretReference,
  replaceInTree,
  type SecretReference,
  stringsWithReferences,
} from './references.js';

type Env = Readonly<Record<string, string | undefined>>;

export type FetchSecret = (ref: SecretReference, options: LookupOptions) => Promise<string>;

export interface SecretResolution {
  /** The configuration with references replaced; `errors` extended with what could not be resolved. */
  loaded: LoadedConfig;
  /** Distinct lookups made (0: nothing referenced, nothing loaded). */
  lookups: number;
  /** Wall-clock time the resolution took. */
  elapsedMs: number;
}

export interface ResolveSecretsOptions {
  env: Env;
  /** Default: the `secrets.timeout_ms` setting. */
  timeoutMs?: number;
  /** For tests. */
  fetch?: FetchSecret;
  now?: () => number;
  /** The timer bounding the lookups; default a plain (ref'd) timer. */
  scheduler?: Scheduler;
}

const LOOKUP_TIMERS: Scheduler = {
  setTimeout(callback, delayMs) {
    const timer = setTimeout(callback, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
};

function configError(key: string, where: string, problem: string): ConfigError {
  return { key, where, problem, message: `${key} (${where}): ${problem}` };
}

/** What the store is called in messages. */
function storeLabel(ref: SecretReference): string {
  return ref.store === 'ssm' ? 'Parameter Store' : 'Secrets Manager';
}

export async function resolveSecrets(
  loaded: LoadedConfig,
  options: ResolveSecretsOptions,
): Promise<SecretResolution> {
  const now = options.now ?? Date.now;
  const started = now();
  const fetch = options.fetch ?? fetchSecretValue;
  const timeoutMs = options.timeoutMs ?? loaded.config.secrets.timeout_ms;
  const errors: ConfigError[] = [];
  const sources = loaded.sources as Readonly<Record<string, string | undefined>>;
  // Map entries (exporter.headers.authorization) take the source of their setting.
  const where = (path: string): string => {
    for (let p = path; p !== ''; p = p.slice(0, Math.max(0, p.lastIndexOf('.')))) {
      const source = sources[p.replace(/\[\d+\].*$/, '')];
      if (source !== undefined) return source;
    }
    return 'configuration';
  };

  // Every reference, by its text, with the settings it appears in.
  const uses = new Map<string, { ref: SecretReference; paths: string[] }>();
  const use = (ref: SecretReference, path: string) => {
    const entry = uses.get(ref.text);
    if (entry) entry.paths.push(path);
    else uses.set(ref.text, { ref, paths: [path] });
  };
  for (const found of stringsWithReferences(loaded.config)) {
    for (const r of findSecretReferences(found.value)) {
      if (typeof r === 'string') errors.push(configError(found.path, where(found.path), r));
      else use(r, found.path);
    }
  }
  let datadogKeyRef: SecretReference | undefined;
  const dd = loaded.config.datadog;
  if (dd.api_key === undefined && dd.api_key_secret_arn !== undefined) {
    const r = parseSecretReference('secretsmanager', dd.api_key_secret_arn);
    if (typeof r === 'string') {
      errors.push(configError('datadog.api_key_secret_arn', where('datadog.api_key_secret_arn'), r));
    } else {
      datadogKeyRef = r;
      use(r, 'datadog.api_key_secret_arn');
    }
  }

  // One request per secret or parameter, whatever the #keys.
  const fetches = new Map<string, { ref: SecretReference; value?: Promise<string> }>();
  const fetchKey = (ref: SecretReference) => `${ref.store}:${ref.id}`;
  for (const { ref } of uses.values()) {
    if (!fetches.has(fetchKey(ref))) fetches.set(fetchKey(ref), { ref });
  }

  const controller = new AbortController();
  let timedOut = false;
  const timer = (options.scheduler ?? LOOKUP_TIMERS).setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, timeoutMs);
  const lookupOptions: LookupOptions = { env: options.env, signal: controller.signal };
  const outcome = new Map<string, { value: string } | { error: string }>();
  try {
    await Promise.all(
      [...fetches.entries()].map(async ([key, f]) => {
        try {
          const value = await fetch(f.ref, lookupOptions);
          outcome.set(key, { value });
        } catch (error) {
          const reason =
            timedOut || controller.signal.aborted
              ? `no answer within ${timeoutMs} ms (secrets.timeout_ms)`
              : error instanceof Error && error.name === 'SecretLookupError'
                ? error.message
                : `lookup failed (${error instanceof Error ? error.name : 'error'})`;
          outcome.set(key, { error: reason });
        }
      }),
    );
  } finally {
    timer.cancel();
  }

  const resolved = new Map<string, string>();
  for (const [text, { ref, paths }] of uses) {
    const result = outcome.get(fetchKey(ref));
    let problem: string | undefined;
    if (!result) problem = 'not looked up';
    else if ('error' in result) problem = result.error;
    else {
      try {
        resolved.set(text, ref.jsonKey === undefined ? result.value : pickJsonKey(result.value, ref.jsonKey));
      } catch (error) {
        problem = error instanceof Error ? error.message : 'cannot read the secret';
      }
    }
    if (problem !== undefined) {
      for (const path of paths) {
        errors.push(
          configError(path, where(path), `${storeLabel(ref)} reference ${text} not resolved: ${problem}`),
        );
      }
    }
  }

  let config = replaceInTree(loaded.config, resolved);
  if (datadogKeyRef && resolved.has(datadogKeyRef.text)) {
    const key = (resolved.get(datadogKeyRef.text) as string).trim();
    config = { ...config, datadog: { ...config.datadog, api_key: key } };
  }
  return {
    loaded: { ...loaded, config: Object.freeze(config), errors: [...loaded.errors, ...errors] },
    lookups: fetches.size,
    elapsedMs: now() - started,
  };
}
