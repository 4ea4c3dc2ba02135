// Layer size, zipped and unzipped: the layer's files (this project's unpacked layer directory, any
// other layer directory, or a single executable) zipped in memory the way the packaging does (deflate,
// one entry per file). `node layer/build-layer.mjs --zip` reports the shipped zips (dist/sizes.json).

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, relative } from 'node:path';
import { LAYER_PATHS } from '../../layer/layer-files.mjs';
import type { ExtensionUnderTest } from './extension-under-test.js';

export interface LayerSize {
  /** The layer as the simulator runs it. */
  zipBytes: number;
  unzippedBytes: number;
  files: number;
  /** Where the figures come from, said next to them. */
  source: string;
}

interface ZipInput {
  name: string;
  data: Buffer;
  mode: number;
}

// yazl ships no types; this is the part of its API used here.
interface YazlZipFile {
  addBuffer(
    data: Buffer,
    name: string,
    options: { mode: number; compress: boolean; compressionLevel: number },
  ): void;
  end(): void;
  outputStream: NodeJS.ReadableStream;
}
const yazl = createRequire(import.meta.url)('yazl') as { ZipFile: new () => YazlZipFile };

/** Zip size of `entries` built in memory (nothing written to disk). */
export async function zippedBytes(entries: readonly ZipInput[]): Promise<number> {
  const zip = new yazl.ZipFile();
  for (const e of [...entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    zip.addBuffer(e.data, e.name, {
      mode: 0o100000 | (e.mode & 0o777),
      compress: true,
      compressionLevel: e.data.length > 8 * 1024 * 1024 ? 6 : 9,
    });
  }
  zip.end();
  let bytes = 0;
  for await (const chunk of zip.outputStream) bytes += (chunk as Buffer).length;
  return bytes;
}

function filesUnder(dir: string): ZipInput[] {
  const out: ZipInput[] = [];
  const walk = (at: string) => {
    for (const name of readdirSync(at)) {
      const path = join(at, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory()) walk(path);
      else if (st.isFile())
        out.push({ name: relative(dir, path), data: readFileSync(path), mode: st.mode & 0o777 });
    }
  };
  walk(dir);
  return out;
}

export async function measureLayerSize(ext: ExtensionUnderTest): Promise<LayerSize> {
  let entries: ZipInput[];
  if (ext.kind === 'executable') {
    const st = statSync(ext.path);
    entries = [
      { name: `extensions/${basename(ext.path)}`, data: readFileSync(ext.path), mode: st.mode & 0o777 },
    ];
  } else {
    entries = filesUnder(ext.optDir);
  }
  return {
    zipBytes: await zippedBytes(entries),
    unzippedBytes: entries.reduce((n, e) => n + e.data.length, 0),
    files: entries.length,
    source: `${ext.kind === 'executable' ? 'the executable' : 'the layer directory'} zipped in memory${
      ext.isProject
        ? `, ${existsSync(join(ext.optDir, LAYER_PATHS.executable)) ? 'compiled executable' : 'Node.js-runtime'} flavour`
        : ''
    }`,
  };
}
