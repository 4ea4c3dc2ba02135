// Small files on Bun: Bun.file, so that start-up loads no node:fs (on Bun it costs milliseconds of
// CPU and megabytes of memory). stat() first: anything but a regular file is refused before a byte
// is read, and a FIFO without a writer is never opened; the read itself is bounded to one byte past
// the limit.

import { failedRead, nonRegularKind } from '../file-read.js';
import type { FileAccess } from '../port.js';
import type { BunApi } from './bun-api.js';

export function bunFiles(bun: BunApi): FileAccess {
  return {
    async readRegularFile(path, maxBytes) {
      try {
        const stat = await bun.file(path).stat();
        if (stat.isDirectory()) return { kind: 'directory' };
        if (!stat.isFile()) return { kind: 'not-regular', what: nonRegularKind(stat) };
        if (stat.size > maxBytes) return { kind: 'too-large' };
        // A fresh handle: one that was stat()ed may keep that size, and files such as /proc's
        // report 0 bytes.
        const bytes = await bun
          .file(path)
          .slice(0, maxBytes + 1)
          .bytes();
        if (bytes.length > maxBytes) return { kind: 'too-large' };
        return { kind: 'read', bytes };
      } catch (error) {
        return failedRead(error);
      }
    },
    // Not BunFile.exists(): it is false for a directory or a device, where existsSync is true.
    async exists(path) {
      try {
        await bun.file(path).stat();
        return true;
      } catch {
        return false;
      }
    },
  };
}
