#!/usr/bin/env node
// Writes src/receiver/otlp-descriptor.json, the protobufjs JSON descriptor of the OTLP schema in
// proto/. The bundled extension loads this descriptor with protobufjs/light instead of parsing
// .proto files at run time. Run after editing proto/: `node src/receiver/generate-descriptor.mjs`.
// `--check` exits 1 when the committed descriptor differs from what proto/ gives (compared as JSON
// values, so reformatting the file does not count as a difference). After regenerating, format it:
// `npx biome format --write src/receiver/otlp-descriptor.json`.

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import protobuf from 'protobufjs';

const PROTO_DIR = fileURLToPath(new URL('../../proto/', import.meta.url));
const OUT = fileURLToPath(new URL('./otlp-descriptor.json', import.meta.url));

/** Entry files; their imports (common, resource, signal files, google.protobuf.Any) follow. */
export const ENTRY_FILES = [
  'opentelemetry/proto/collector/trace/v1/trace_service.proto',
  'opentelemetry/proto/collector/metrics/v1/metrics_service.proto',
  'opentelemetry/proto/collector/logs/v1/logs_service.proto',
  'google/rpc/status.proto',
];

export function buildDescriptor() {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => PROTO_DIR + target;
  root.loadSync(ENTRY_FILES);
  root.resolveAll();
  // Comments are not kept: the descriptor is for decoding only. Indented like the formatter wants it.
  return `${JSON.stringify(root.toJSON({ keepComments: false }), null, 2)}\n`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const text = buildDescriptor();
  if (process.argv.includes('--check')) {
    let current;
    try {
      current = JSON.parse(readFileSync(OUT, 'utf8'));
    } catch {}
    if (!isDeepStrictEqual(current, JSON.parse(text))) {
      console.error(
        'src/receiver/otlp-descriptor.json is stale: run node src/receiver/generate-descriptor.mjs',
      );
      process.exit(1);
    }
  } else {
    writeFileSync(OUT, text);
    console.log(`wrote ${OUT} (${text.length} bytes)`);
  }
}
