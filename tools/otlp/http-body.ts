// Reading request bodies in the fake servers: whole body, gunzipped when the client compressed it.

import type { IncomingMessage } from 'node:http';
import { gunzipSync } from 'node:zlib';

export async function readBody(req: IncomingMessage): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of req) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

/** The body as the client meant it: gunzipped when Content-Encoding says gzip. */
export function decodeContent(req: IncomingMessage, wire: Buffer): Buffer {
  const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
  return encoding === 'gzip' ? gunzipSync(wire) : wire;
}

const SIGNAL_PATH = /^\/v1\/(traces|metrics|logs)\/?$/;

export function signalOfPath(path: string | undefined): 'traces' | 'metrics' | 'logs' | undefined {
  const match = SIGNAL_PATH.exec((path ?? '').split('?')[0] ?? '');
  return match ? (match[1] as 'traces' | 'metrics' | 'logs') : undefined;
}
