// Node.js built-in modules loaded when first needed rather than imported. Under Bun each one costs
// CPU and memory the first time it loads (in a compiled executable: node:net ~13 ms and ~7 MB,
// node:zlib ~12 ms and ~10 MB, node:fs ~3 ms and ~4.5 MB), and most paths never need them. The
// runtime keeps what it loaded: later calls cost a lookup.

import { createRequire } from 'node:module';

interface NodeBuiltins {
  'node:crypto': typeof import('node:crypto');
  'node:dns': typeof import('node:dns');
  'node:events': typeof import('node:events');
  'node:fs': typeof import('node:fs');
  'node:http': typeof import('node:http');
  'node:https': typeof import('node:https');
  'node:http2': typeof import('node:http2');
  'node:net': typeof import('node:net');
  'node:stream': typeof import('node:stream');
  'node:v8': typeof import('node:v8');
  'node:vm': typeof import('node:vm');
  'node:zlib': typeof import('node:zlib');
}

const require = createRequire(import.meta.url);

export function nodeBuiltin<Name extends keyof NodeBuiltins>(name: Name): NodeBuiltins[Name] {
  return require(name) as NodeBuiltins[Name];
}
