// Endpoint URL rules shared by every configuration source: what a valid OTLP/HTTP endpoint is, how
// a base endpoint becomes a per-signal URL, and when an endpoint would send our export back into our
// own local receiver (the function's SDK is usually pointed there through the same variables).

import type { Signal } from '../model/chunk.js';

/** Hosts that reach this execution environment itself. */
const LOCAL_HOSTNAMES = new Set(['localhost', 'sandbox.localdomain', '0.0.0.0', '[::1]', '[::]', '::1']);

/** A parsed http(s) URL, or a reason it is not one. */
export function parseEndpointUrl(value: string): URL | string {
  const text = value.trim();
  if (text === '') return 'it is empty';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'it is not a valid URL (expected e.g. https://collector.example.com:4318)';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return `scheme ${url.protocol.replace(/:$/, '')} is not supported (use http or https)`;
  }
  return url;
}

/** Base endpoint + /v1/<signal>, keeping any path prefix the base has. */
export function signalUrlFromBase(base: URL, signal: Signal): string {
  const url = new URL(base.href);
  url.pathname = url.pathname.replace(/\/+$/, '') + '/v1/' + signal;
  return url.href;
}

export function isLocalHostname(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '');
  if (LOCAL_HOSTNAMES.has(host)) return true;
  // The whole 127.0.0.0/8 block is loopback.
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

export function effectivePort(url: URL): number {
  if (url.port !== '') return Number(url.port);
  return url.protocol === 'https:' ? 443 : 80;
}

/** True when `url` points at one of our own local listeners. */
export function isSelfExportLoop(url: URL, localPorts: readonly number[]): boolean {
  return isLocalHostname(url.hostname) && localPorts.includes(effectivePort(url));
}
