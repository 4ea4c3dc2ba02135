// Compression on node:zlib, loaded by the first compressed body (it takes a few ms to load).

import { nodeBuiltin } from '../node-builtin.js';
import type { Compression, ContentCoding, Decompressor } from '../port.js';

export const loadZlib = () => nodeBuiltin('node:zlib');

/** A zlib Transform as the port's Decompressor (also used by the Bun implementation: Bun has node:zlib). */
export function zlibDecompressor(coding: ContentCoding): Decompressor {
  const z = loadZlib();
  const stream =
    coding === 'deflate'
      ? z.createInflate()
      : coding === 'br'
        ? z.createBrotliDecompress()
        : z.createGunzip();
  return {
    write: (chunk) => {
      stream.write(chunk);
    },
    end: () => {
      stream.end();
    },
    destroy: () => {
      stream.destroy();
    },
    pipe(output, done, fail) {
      stream.on('data', output);
      stream.on('end', done);
      stream.on('error', fail);
    },
  };
}

/** Below this, the thread-pool round trip costs more than compressing inline (well under 1 ms). */
const INLINE_GZIP_MAX_BYTES = 32 * 1024;

export const nodeCompression: Compression = {
  gzip(data, level) {
    const z = loadZlib();
    const options = { level, memLevel: 8 };
    if (data.byteLength <= INLINE_GZIP_MAX_BYTES) return Promise.resolve(z.gzipSync(data, options));
    return new Promise((resolve, reject) => {
      z.gzip(data, options, (err, out) => (err ? reject(err) : resolve(out)));
    });
  },
  decompressor: zlibDecompressor,
};
