// The few POSIX path operations start-up needs (Lambda runs on Linux only), so that the compiled
// executable does not load node:path and node:url for them: on Bun each built-in module costs
// milliseconds of CPU and megabytes of memory when first loaded. Same results as node:path.posix
// (test/unit/platform-paths.test.ts checks them against it).

/** Whether `path` starts at the root. */
export function isAbsolutePath(path: string): boolean {
  return path.startsWith('/');
}

/** node:path.posix.join: the non-empty parts joined with '/', then normalised. */
export function joinPath(...parts: string[]): string {
  const joined = parts.filter((part) => part.length > 0).join('/');
  return joined.length === 0 ? '.' : normalizePath(joined);
}

/** node:path.posix.normalize: repeated '/', '.' and '..' resolved; a trailing '/' kept. */
export function normalizePath(path: string): string {
  if (path.length === 0) return '.';
  const absolute = path.startsWith('/');
  const trailing = path.endsWith('/');
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      // Above the root is the root; a relative path keeps its leading '..'s.
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!absolute) out.push('..');
      continue;
    }
    out.push(segment);
  }
  const body = out.join('/');
  if (body.length === 0) return absolute ? '/' : trailing ? './' : '.';
  return (absolute ? '/' : '') + body + (trailing ? '/' : '');
}

/** node:path.posix.dirname: everything before the last segment (trailing '/'s ignored). */
export function dirnamePath(path: string): string {
  if (path.length === 0) return '.';
  const hasRoot = path.startsWith('/');
  let end = -1;
  let inTrailingSlashes = true;
  for (let i = path.length - 1; i >= 1; i--) {
    if (path[i] === '/') {
      if (!inTrailingSlashes) {
        end = i;
        break;
      }
    } else {
      inTrailingSlashes = false;
    }
  }
  if (end === -1) return hasRoot ? '/' : '.';
  if (hasRoot && end === 1) return '//';
  return path.slice(0, end);
}

/** node:url fileURLToPath for a local file: URL on POSIX; throws a TypeError for anything else. */
export function pathOfFileUrl(url: string | URL): string {
  const parsed = typeof url === 'string' ? new URL(url) : url;
  if (parsed.protocol !== 'file:') throw new TypeError(`not a file: URL: ${parsed.href}`);
  if (parsed.hostname !== '')
    throw new TypeError(`a file: URL with a host is not a local path: ${parsed.href}`);
  if (/%2f/i.test(parsed.pathname))
    throw new TypeError(`a file: URL path must not contain an encoded '/': ${parsed.href}`);
  return decodeURIComponent(parsed.pathname);
}
