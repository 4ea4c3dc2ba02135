// A minimal HTTP client for receiver tests: posts a body and returns the answer even when the server
// answers early and closes while the body is still being sent.

import { request } from 'node:http';

export interface PostResult {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface PostOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Sent in one piece, or as a stream of pieces (chunked) when an iterable. */
  body?: Uint8Array | Iterable<Uint8Array>;
  host?: string;
}

export function post(port: number, path: string, options: PostOptions = {}): Promise<PostResult> {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(
      {
        host: options.host ?? '127.0.0.1',
        port,
        path,
        method: options.method ?? 'POST',
        headers: options.headers,
      },
      (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }),
        );
        res.on('error', reject);
      },
    );
    // After an early answer the server may cut the connection while we are still writing.
    req.on('error', (err) => {
      if (!answered) reject(err);
    });
    const body = options.body;
    if (body === undefined) {
      req.end();
    } else if (body instanceof Uint8Array) {
      req.end(body);
    } else {
      const pieces = body[Symbol.iterator]();
      const pump = (): void => {
        for (;;) {
          if (answered || req.destroyed) return;
          const next = pieces.next();
          if (next.done) {
            req.end();
            return;
          }
          if (!req.write(next.value)) {
            req.once('drain', pump);
            return;
          }
        }
      };
      pump();
    }
  });
}
