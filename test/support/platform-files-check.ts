// Reads awkward files through whichever runtime port the process selects (configuration files as
// the loader reads them, and existence checks) and prints what it saw as one JSON line. Run by
// test/unit/platform-files.test.ts under Bun and under Node, in a directory the test prepared.

import { readConfigFile } from '../../src/config/config-file.js';
import { CONFIG_LIMITS } from '../../src/config/config-limits.js';
import { platform } from '../../src/platform/index.js';
import { joinPath } from '../../src/platform/paths.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: platform-files-check.ts <prepared directory>');
const at = (name: string) => joinPath(dir, name);

const { files } = platform();
const reads: Record<string, unknown> = {};
for (const name of [
  'small.yaml',
  'bom.yaml',
  'at-limit.yaml',
  'over-limit.yaml',
  'sub',
  'fifo',
  'link.yaml',
  'dangling',
  'absent',
  'small.yaml/x',
]) {
  reads[name] = await readConfigFile(at(name));
}
reads['/dev/zero'] = await readConfigFile('/dev/zero');
const sizes = {
  atLimit: (
    (await files.readRegularFile(at('at-limit.yaml'), CONFIG_LIMITS.maxBytes)) as { bytes?: Uint8Array }
  ).bytes?.length,
};
const exists: Record<string, boolean> = {};
for (const name of ['small.yaml', 'sub', 'fifo', 'link.yaml', 'dangling', 'absent', 'small.yaml/x']) {
  exists[name] = await files.exists(at(name));
}
exists['/dev/zero'] = await files.exists('/dev/zero');

process.stdout.write(`${JSON.stringify({ platform: platform().name, reads, sizes, exists })}\n`);
