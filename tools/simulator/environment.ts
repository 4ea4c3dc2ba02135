// What an execution environment is made of: the extension executables found in the layer and the
// environment variables each kind of process sees on Lambda.
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { SimulatorMode } from './types.js';

export interface ExtensionExecutable {
  name: string;
  path: string;
}

/** Every regular executable file in <optDir>/extensions/, by name (Lambda starts them all). */
export function findExtensions(optDir: string | undefined): ExtensionExecutable[] {
  if (!optDir) return [];
  const dir = join(optDir, 'extensions');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .sort()
    .map((name) => ({ name, path: join(dir, name) }))
    .filter(({ path }) => {
      try {
        const stat = statSync(path);
        return stat.isFile() && (stat.mode & 0o111) !== 0;
      } catch {
        return false;
      }
    });
}

export function initializationTypeOf(mode: SimulatorMode): string {
  if (mode === 'managed-instances') return 'lambda-managed-instances';
  if (mode === 'snap-start') return 'snap-start';
  return 'on-demand';
}

export interface EnvironmentSpec {
  runtimeApi: string;
  functionName: string;
  functionVersion: string;
  memorySizeMB: number;
  region: string;
  mode: SimulatorMode;
  optDir?: string;
  callerEnv: Record<string, string>;
}

function baseEnv(spec: EnvironmentSpec): Record<string, string> {
  // Lambda's PATH has the runtime's node first (/var/lang/bin); here it is the node running this.
  const path = [dirname(process.execPath), '/usr/local/bin', '/usr/bin', '/bin'];
  if (spec.optDir) path.push(join(resolve(spec.optDir), 'bin'));
  return { PATH: path.join(':'), LANG: 'en_US.UTF-8', TZ: ':UTC' };
}

/** What extensions see: no runtime-only variables (log group, handler, task root). */
export function extensionEnv(spec: EnvironmentSpec): Record<string, string> {
  return {
    ...baseEnv(spec),
    ...spec.callerEnv,
    AWS_LAMBDA_RUNTIME_API: spec.runtimeApi,
    AWS_LAMBDA_FUNCTION_NAME: spec.functionName,
    AWS_LAMBDA_FUNCTION_VERSION: spec.functionVersion,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memorySizeMB),
    AWS_REGION: spec.region,
    AWS_DEFAULT_REGION: spec.region,
    AWS_LAMBDA_INITIALIZATION_TYPE: initializationTypeOf(spec.mode),
  };
}

export interface FunctionSpec {
  handlerFile: string;
  handlerExport: string;
  logFormat: 'text' | 'json';
  bootstrap: string;
  maxConcurrency: number;
}

/** The Lambda handler setting for a handler file: `<module>.<export>`. */
export function handlerSetting(handlerFile: string, handlerExport: string): string {
  return `${basename(handlerFile, extname(handlerFile))}.${handlerExport}`;
}

function logStreamName(functionVersion: string): string {
  const day = new Date().toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[${functionVersion}]${randomBytes(16).toString('hex')}`;
}

/** What the function runtime sees: the extension variables plus the runtime-only ones. */
export function functionEnv(spec: EnvironmentSpec, fn: FunctionSpec): Record<string, string> {
  const env: Record<string, string> = {
    ...extensionEnv(spec),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.functionName}`,
    AWS_LAMBDA_LOG_STREAM_NAME: logStreamName(spec.functionVersion),
    AWS_LAMBDA_LOG_FORMAT: fn.logFormat === 'json' ? 'JSON' : 'Text',
    AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs20.x',
    _HANDLER: handlerSetting(fn.handlerFile, fn.handlerExport),
    LAMBDA_TASK_ROOT: dirname(fn.handlerFile),
    LAMBDA_RUNTIME_DIR: dirname(fn.bootstrap),
  };
  if (spec.mode === 'managed-instances') env.AWS_LAMBDA_MAX_CONCURRENCY = String(fn.maxConcurrency);
  return env;
}
