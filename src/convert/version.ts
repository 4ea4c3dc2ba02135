// Our own identity, reported as the instrumentation scope and telemetry.distro.* (never as
// telemetry.sdk.*, which belongs to the function's SDK). The build injects the package version
// with esbuild `define: { __OTEL_LAMBDA_EXTENSION_VERSION__: JSON.stringify(pkg.version) }`;
// running from source (tests, tsx) reports 'dev'.

declare const __OTEL_LAMBDA_EXTENSION_VERSION__: string | undefined;

export const EXTENSION_NAME = 'otel-lambda-extension';

export const EXTENSION_VERSION: string =
  typeof __OTEL_LAMBDA_EXTENSION_VERSION__ === 'string' ? __OTEL_LAMBDA_EXTENSION_VERSION__ : 'dev';
