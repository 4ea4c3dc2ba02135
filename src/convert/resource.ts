// The resource every platform span and metric carries: the function, its environment and region.
// Built lazily: the first chunk asks for it, later discoveries (the function ARN from the first
// INVOKE, the account id) produce a new Resource object for later chunks. faas.instance is fixed
// once used, except when a SnapStart restore starts a new environment from the same memory image.

import type { AttributeValue, Attributes } from '@opentelemetry/api';
import { type Resource, resourceFromAttributes } from '@opentelemetry/resources';
import type { RegisterResponse } from '../lambda/telemetry-events.js';
import type { IdGenerator } from './ids.js';
import {
  ATTR_AWS_LOG_GROUP_NAMES,
  ATTR_CLOUD_ACCOUNT_ID,
  ATTR_CLOUD_PLATFORM,
  ATTR_CLOUD_PROVIDER,
  ATTR_CLOUD_REGION,
  ATTR_CLOUD_RESOURCE_ID,
  ATTR_FAAS_ID,
  ATTR_FAAS_INSTANCE,
  ATTR_FAAS_MAX_MEMORY,
  ATTR_FAAS_NAME,
  ATTR_FAAS_VERSION,
  ATTR_SERVICE_NAME,
  ATTR_TELEMETRY_DISTRO_NAME,
  ATTR_TELEMETRY_DISTRO_VERSION,
} from './semconv.js';
import { EXTENSION_NAME, EXTENSION_VERSION } from './version.js';

export type Environment = Readonly<Record<string, string | undefined>>;

const MIB = 1048576;
/** A log stream name is far shorter; anything longer is not one. */
const MAX_INSTANCE_CHARS = 512;

export interface ParsedResourceAttributes {
  attributes: Record<string, string>;
  /** Why the variable was discarded, when it was. */
  error?: string;
}

/**
 * OTEL_RESOURCE_ATTRIBUTES per the SDK spec: `key=value` pairs separated by commas, keys and values
 * percent-decoded and trimmed. On any malformed pair the whole value is discarded (the spec's rule),
 * and the reason is returned so it can be reported.
 */
export function parseResourceAttributes(raw: string | undefined): ParsedResourceAttributes {
  const attributes: Record<string, string> = {};
  if (raw === undefined || raw.trim() === '') return { attributes };
  for (const pair of raw.split(',')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0 || pair.indexOf('=', eq + 1) >= 0) {
      return { attributes: {}, error: `OTEL_RESOURCE_ATTRIBUTES: "${pair}" is not key=value` };
    }
    const rawKey = pair.slice(0, eq).trim();
    if (rawKey === '') return { attributes: {}, error: `OTEL_RESOURCE_ATTRIBUTES: empty key in "${pair}"` };
    try {
      attributes[decodeURIComponent(rawKey)] = decodeURIComponent(pair.slice(eq + 1).trim());
    } catch {
      return { attributes: {}, error: `OTEL_RESOURCE_ATTRIBUTES: "${pair}" is not valid percent-encoding` };
    }
  }
  return { attributes };
}

/** `arn:aws:lambda:region:account:function:name[:qualifier]` without the qualifier, or undefined. */
export function unqualifiedFunctionArn(arn: string): string | undefined {
  const parts = arn.split(':');
  if (parts.length < 7 || parts[0] !== 'arn' || parts[2] !== 'lambda' || parts[5] !== 'function')
    return undefined;
  if (!parts[6]) return undefined;
  return parts.slice(0, 7).join(':');
}

/** The ARN partition of a region, for deriving the function ARN before any INVOKE is seen. */
function partitionOf(region: string): string {
  if (region.startsWith('cn-')) return 'aws-cn';
  if (region.startsWith('us-gov-')) return 'aws-us-gov';
  if (region.startsWith('us-isob-')) return 'aws-iso-b';
  if (region.startsWith('us-iso-')) return 'aws-iso';
  if (region.startsWith('eusc-')) return 'aws-eusc';
  return 'aws';
}

function positiveInt(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export class PlatformResource {
  /** A problem found in the configuration (e.g. OTEL_RESOURCE_ATTRIBUTES discarded), for the caller to log. */
  readonly problems: string[] = [];

  private readonly region: string | undefined;
  private readonly serviceNameOverride: string | undefined;
  private readonly userAttributes: Record<string, string>;
  private readonly logGroupName: string | undefined;
  private functionNameValue: string;
  private functionVersion: string | undefined;
  private accountId: string | undefined;
  private arn: string | undefined;
  private instance: string | undefined;
  private instanceLocked = false;
  /** faas.instance came from the function's own resource (its SDK's Lambda detector). */
  private instanceFromFunction = false;
  private maxMemoryMiB: number | undefined;
  private cached: Resource | undefined;

  constructor(
    env: Environment,
    private readonly ids: IdGenerator,
  ) {
    this.region = env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined;
    this.functionNameValue = env.AWS_LAMBDA_FUNCTION_NAME || 'unknown_function';
    this.functionVersion = env.AWS_LAMBDA_FUNCTION_VERSION || undefined;
    this.maxMemoryMiB = positiveInt(env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE);
    // Runtime-only variables: an extension normally does not see them, a simulator may set them.
    this.instance = env.AWS_LAMBDA_LOG_STREAM_NAME || undefined;
    this.logGroupName = env.AWS_LAMBDA_LOG_GROUP_NAME || undefined;
    this.serviceNameOverride = env.OTEL_SERVICE_NAME?.trim() || undefined;
    const parsed = parseResourceAttributes(env.OTEL_RESOURCE_ATTRIBUTES);
    this.userAttributes = parsed.attributes;
    if (parsed.error) this.problems.push(parsed.error);
  }

  get functionName(): string {
    return this.functionNameValue;
  }

  /** The unqualified function ARN once known (from an INVOKE, or derived from region and account). */
  get functionArn(): string | undefined {
    return this.arn ?? this.derivedArn();
  }

  setRegistration(reg: RegisterResponse): void {
    if (typeof reg.functionName === 'string' && reg.functionName !== '')
      this.functionNameValue = reg.functionName;
    if (typeof reg.functionVersion === 'string' && reg.functionVersion !== '') {
      this.functionVersion = reg.functionVersion;
    }
    if (typeof reg.accountId === 'string' && reg.accountId !== '') this.accountId = reg.accountId;
    this.cached = undefined;
  }

  /** Learns the function ARN from an INVOKE's invoked ARN; returns the unqualified ARN. */
  setInvokedArn(invokedArn: string): string | undefined {
    const known = this.arn;
    if (known !== undefined && (invokedArn === known || invokedArn.startsWith(`${known}:`))) return known;
    const arn = unqualifiedFunctionArn(invokedArn);
    if (arn === undefined) return undefined;
    const before = this.functionArn;
    this.arn = arn;
    if (this.accountId === undefined) this.accountId = arn.split(':')[4] || undefined;
    // A derived ARN that turns out right keeps the Resource object (and its identity) as is.
    if (arn !== before) this.cached = undefined;
    return arn;
  }

  /** From initStart/restoreStart; does not replace an id already exported, unless `renew`. */
  setInstance(instanceId: string | undefined, renew = false): void {
    if (renew) {
      this.instance = instanceId || this.ids.traceId();
      this.instanceLocked = false;
      this.instanceFromFunction = false;
      this.cached = undefined;
      return;
    }
    if (!instanceId || this.instanceLocked || this.instanceFromFunction || instanceId === this.instance)
      return;
    this.instance = instanceId;
    this.cached = undefined;
  }

  /**
   * The faas.instance the function's own SDK reports. Its Lambda resource detector takes
   * AWS_LAMBDA_LOG_STREAM_NAME, a variable extensions do not get on Lambda: the function's resource
   * is where this environment's name reaches us. It wins over an id of our own, even one already
   * exported, so the environment is one instance in the backend from here on.
   */
  adoptFunctionInstance(instance: string): void {
    if (this.instanceFromFunction || instance === '' || instance.length > MAX_INSTANCE_CHARS) return;
    this.instanceFromFunction = true;
    if (instance === this.instance) return;
    this.instance = instance;
    this.cached = undefined;
  }

  /** From initStart.instanceMaxMemory or report.memorySizeMB, when the environment did not say. */
  setMaxMemoryMiB(mib: number | undefined): void {
    if (this.maxMemoryMiB !== undefined || mib === undefined || !(mib > 0)) return;
    this.maxMemoryMiB = Math.round(mib);
    this.cached = undefined;
  }

  get maxMemoryBytes(): number | undefined {
    return this.maxMemoryMiB === undefined ? undefined : this.maxMemoryMiB * MIB;
  }

  /** The Resource for the next chunk; the same object until something changes. */
  get(): Resource {
    if (this.cached) return this.cached;
    if (this.instance === undefined) this.instance = this.ids.traceId();
    this.instanceLocked = true;
    this.cached = resourceFromAttributes(this.attributes());
    return this.cached;
  }

  /** The attributes the next Resource will carry (what get() builds from). */
  attributes(): Attributes {
    const a: Record<string, AttributeValue> = {
      [ATTR_CLOUD_PROVIDER]: 'aws',
      [ATTR_CLOUD_PLATFORM]: 'aws_lambda',
    };
    if (this.region) a[ATTR_CLOUD_REGION] = this.region;
    if (this.accountId) a[ATTR_CLOUD_ACCOUNT_ID] = this.accountId;
    a[ATTR_FAAS_NAME] = this.functionNameValue;
    if (this.functionVersion) a[ATTR_FAAS_VERSION] = this.functionVersion;
    if (this.instance) a[ATTR_FAAS_INSTANCE] = this.instance;
    if (this.maxMemoryMiB !== undefined) a[ATTR_FAAS_MAX_MEMORY] = this.maxMemoryMiB * MIB;
    a[ATTR_AWS_LOG_GROUP_NAMES] = [this.logGroupName ?? `/aws/lambda/${this.functionNameValue}`];
    const arn = this.functionArn;
    if (arn) {
      a[ATTR_CLOUD_RESOURCE_ID] = arn;
      // Deprecated in semconv for cloud.resource_id, still what Datadog's intake keys functions by.
      a[ATTR_FAAS_ID] = arn;
    }
    a[ATTR_TELEMETRY_DISTRO_NAME] = EXTENSION_NAME;
    a[ATTR_TELEMETRY_DISTRO_VERSION] = EXTENSION_VERSION;
    // The user's explicit attributes win over what was detected; OTEL_SERVICE_NAME wins over both.
    for (const key in this.userAttributes) a[key] = this.userAttributes[key] as string;
    a[ATTR_SERVICE_NAME] =
      this.serviceNameOverride ?? this.userAttributes[ATTR_SERVICE_NAME] ?? this.functionNameValue;
    return a;
  }

  private derivedArn(): string | undefined {
    if (!this.region || !this.accountId || this.functionNameValue === 'unknown_function') return undefined;
    return `arn:${partitionOf(this.region)}:lambda:${this.region}:${this.accountId}:function:${this.functionNameValue}`;
  }
}
