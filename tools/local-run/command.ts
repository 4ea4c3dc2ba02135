// Shared by the demo and the CLI: the options both take, running the plan, printing the report and
// choosing the exit code.

import { readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';

export type ParseArgsOptionsConfig = NonNullable<ParseArgsConfig['options']>;
import { renderRun } from './report.js';
import { LocalRunError, type LocalRunOptions, type PlannedInvocation, runLocally } from './run.js';
import { styleFor } from './style.js';

export const COMMON_USAGE = `  --endpoint URL         export to this OTLP/HTTP endpoint instead of the embedded sink
  --layer DIR            the unpacked layer (default: build/layer, made by \`make layer\`)
  --log-format text|json the function's log format (default text)
  --env KEY=VALUE        environment for the function and the extension (repeatable)
  --log-level LEVEL      the extension's log level: error|warn|info|debug (default info)
  --unthrottled          whole CPUs instead of Lambda's share (memory / 1769 of one CPU)
  --echo                 print every process line as it comes
  --no-color             plain output even on a terminal
  --help                 this text`;

export const COMMON_OPTIONS: ParseArgsOptionsConfig = {
  endpoint: { type: 'string' },
  layer: { type: 'string' },
  'log-format': { type: 'string', default: 'text' },
  env: { type: 'string', multiple: true, default: [] },
  'log-level': { type: 'string', default: 'info' },
  echo: { type: 'boolean', default: false },
  unthrottled: { type: 'boolean', default: false },
  'no-color': { type: 'boolean', default: false },
  help: { type: 'boolean', default: false },
};

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

type ParsedValues = Record<string, string | boolean | string[] | undefined>;

/** Parses argv with the common options and `extra` ones; unknown options are usage errors. */
export function parseCommand(argv: readonly string[], extra: ParseArgsOptionsConfig): ParsedValues {
  try {
    const { values } = parseArgs({ args: [...argv], options: { ...COMMON_OPTIONS, ...extra }, strict: true });
    return values as ParsedValues;
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The run options every command shares, validated. */
export function commonRunOptions(values: ParsedValues): Omit<LocalRunOptions, 'handler' | 'invocations'> {
  const logFormat = values['log-format'];
  if (logFormat !== 'text' && logFormat !== 'json') {
    throw new UsageError(`--log-format must be text or json; got ${String(logFormat)}`);
  }
  const logLevel = values['log-level'];
  if (logLevel !== 'error' && logLevel !== 'warn' && logLevel !== 'info' && logLevel !== 'debug') {
    throw new UsageError(`--log-level must be error, warn, info or debug; got ${String(logLevel)}`);
  }
  const env: Record<string, string> = {};
  for (const pair of (values['env'] as string[] | undefined) ?? []) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new UsageError(`--env takes KEY=VALUE; got ${pair}`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  const endpoint = values['endpoint'] as string | undefined;
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new UsageError(
        `--endpoint must be an http(s) URL such as http://localhost:4318; got ${endpoint}`,
      );
    }
  }
  return {
    logFormat,
    logLevel,
    env,
    echo: values['echo'] === true,
    unthrottled: values['unthrottled'] === true,
    ...(endpoint !== undefined && { endpoint }),
    ...(typeof values['layer'] === 'string' && { layerDir: values['layer'] }),
  };
}

/** A JSON file's content, with the file named in any error. */
export function readJsonFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new UsageError(`${path} is not JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
}

export interface ExecuteOptions {
  run: LocalRunOptions;
  noColor?: boolean;
}

/**
 * Runs the plan and prints the report. Exit code 0 when the run completed (whatever the handler
 * did), 1 when the embedded sink received nothing at all or the run broke, 2 for bad input, 130
 * when interrupted.
 */
export async function execute(options: ExecuteOptions): Promise<number> {
  const stdout = process.stdout;
  const style = options.noColor ? styleFor(stdout, { NO_COLOR: '1' }) : styleFor(stdout);
  // On a terminal the bars take the room the other columns leave.
  const barWidth = stdout.isTTY && stdout.columns ? Math.max(20, Math.min(60, stdout.columns - 100)) : 40;
  // Ctrl-C must not leave frozen (SIGSTOPped) processes behind: the run kills them first.
  const interrupt = new AbortController();
  const onSignal = () => interrupt.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await runLocally({ ...options.run, signal: interrupt.signal });
    stdout.write(`${renderRun(result, { style, barWidth }).join('\n')}\n`);
    const r = result.received;
    if (r && r.spans.length + r.metrics.length + r.logs.length === 0) {
      process.stderr.write('nothing reached the embedded OTLP sink: see the extension log above\n');
      return 1;
    }
    return 0;
  } catch (error) {
    if (interrupt.signal.aborted) {
      process.stderr.write('interrupted\n');
      return 130;
    }
    if (error instanceof LocalRunError) {
      process.stderr.write(`${error.message}\n`);
      return 2;
    }
    process.stderr.write(
      `local run failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** Runs a command's main with argv; usage errors print the usage and exit 2. */
export function runCommand(main: (argv: readonly string[]) => Promise<number>, usage: string): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
      if (error instanceof UsageError) process.stderr.write(`${usage}\n`);
      process.exitCode = error instanceof UsageError ? 2 : 1;
    },
  );
}

export type { PlannedInvocation };
