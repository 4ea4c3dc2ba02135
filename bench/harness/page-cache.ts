// How an extension's files came into the page cache changes its file-backed RSS: pages a build has
// just written sit in large folios that a fault maps whole (a freshly built 110 MB executable shows
// ~20 MB more RSS than the same file read back from disk). So before measuring, each extension's
// files are written back and dropped from the page cache, and every cold start reads them as Lambda
// reads a layer: from disk, through page faults and read-ahead.

import { execFileSync } from 'node:child_process';
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';

function filesUnder(path: string, out: string[]): string[] {
  const real = realpathSync(path);
  const stat = statSync(real);
  if (stat.isFile()) out.push(real);
  else if (stat.isDirectory()) for (const name of readdirSync(real)) filesUnder(join(real, name), out);
  return out;
}

/**
 * Writes back and evicts every file under `paths` (symbolic links followed). Returns how many files
 * were dropped; 0 when coreutils' sync or dd cannot do it (the figures then depend on the cache).
 */
export function dropFromPageCache(paths: readonly string[]): number {
  const files = [...new Set(paths.flatMap((p) => filesUnder(p, [])))];
  if (files.length === 0) return 0;
  try {
    execFileSync('sync', files, { stdio: 'ignore' });
    // dd with count=0 and iflag=nocache asks the kernel to drop the whole file (POSIX_FADV_DONTNEED).
    for (const file of files)
      execFileSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none'], { stdio: 'ignore' });
    return files.length;
  } catch {
    return 0;
  }
}
