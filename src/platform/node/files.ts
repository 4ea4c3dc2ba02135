// Small files on Node: opened non-blocking and checked with fstat, so that a FIFO does not wait for
// a writer and anything but a regular file is refused before a byte is read. node:fs is loaded on
// first use (this module is imported under Bun too, which never uses it).

import { failedRead, nonRegularKind } from '../file-read.js';
import { nodeBuiltin } from '../node-builtin.js';
import type { FileAccess, RegularFileRead } from '../port.js';

function readRegularFile(path: string, maxBytes: number): RegularFileRead {
  const { openSync, fstatSync, readSync, closeSync, constants } = nodeBuiltin('node:fs');
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const stat = fstatSync(fd);
    if (stat.isDirectory()) return { kind: 'directory' };
    if (!stat.isFile()) return { kind: 'not-regular', what: nonRegularKind(stat) };
    if (stat.size > maxBytes) return { kind: 'too-large' };
    const buffer = Buffer.allocUnsafe(maxBytes + 1);
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
      if (length > maxBytes) return { kind: 'too-large' };
    }
    return { kind: 'read', bytes: buffer.subarray(0, length) };
  } catch (error) {
    return failedRead(error);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export const nodeFiles: FileAccess = {
  readRegularFile: async (path, maxBytes) => readRegularFile(path, maxBytes),
  exists: async (path) => nodeBuiltin('node:fs').existsSync(path),
};
