// What the Node and Bun file access share: the name of a file that is not a regular one, and what
// a failed read means.

import type { RegularFileRead } from './port.js';

/** The file-type tests of a stat result (Node's fs.Stats and Bun's are alike). */
export interface FileTypeTests {
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

export function nonRegularKind(stat: FileTypeTests): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  return 'not a file';
}

export function failedRead(error: unknown): RegularFileRead {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'absent' };
  if (code === 'EISDIR') return { kind: 'directory' };
  if (code === 'EACCES' || code === 'EPERM') return { kind: 'denied' };
  return { kind: 'failed', code: typeof code === 'string' ? code : String(error) };
}
