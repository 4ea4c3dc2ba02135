// Layer size, zipped and unzipped. For this project's layer the packaging report (dist/sizes.json,
// written by `node layer/build-layer.mjs --zip`) is used when it describes the layer that was just
// built; otherwise the layer's files are zipped in memory the way the packaging does (deflate level 9,
// one entry per file). Any other extension is zipped in memory from its directory or executable.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join, relative } from 'node:path';
import { LAYER_PATHS, REPO_ROOT } from '../../layer/layer-files.mjs';
import type { ExtensionUnderTest } from './extension-under-test.js';

export interface LayerSize {
  /** The layer as the simulator runs it (Node.js-runtime flavour for this project). */
  zipBytes: number;
  unzippedBytes: number;
  files: number;
  /** Where the figures come from, said next to them. */
  source: string;
  /** Architecture flavours with a Node executable inside (from dist/sizes.json only). */
  withNode?: { flavour: string; zipBytes: number; unzippedBytes: number }[];
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

interface SizesReport {
  zips?: {
    flavour?: string;
    zipBytes?: number;
    unpackedBytes?: number;
    entries?: { name: string; bytes: number }[];
  }[];
}

/** dist/sizes.json when its Node.js-flavour entries have the sizes of the built layer's files. */
function packagingReport(entries: readonly ZipInput[]): { report?: SizesReport; why: string } {
  const path = join(REPO_ROOT, 'dist', 'sizes.json');
  let report: SizesReport;
  try {
    report = JSON.parse(readFileSync(path, 'utf8')) as SizesReport;
  } catch {
    return { why: 'dist/sizes.json not found (node layer/build-layer.mjs --zip writes it)' };
  }
  const nodejs = report.zips?.find((z) => z.flavour === 'nodejs');
  if (!nodejs?.entries || nodejs.zipBytes === undefined)
    return { why: 'dist/sizes.json has no nodejs flavour' };
  for (const e of entries) {
    const listed = nodejs.entries.find((x) => x.name === e.name);
    if (listed?.bytes !== e.data.length) {
      return {
        why: `dist/sizes.json is stale (${e.name}: ${listed?.bytes ?? 'absent'} B there, ${e.data.length} B built)`,
      };
    }
  }
  return { report, why: 'dist/sizes.json (matches build/layer)' };
}

export async function measureLayerSize(ext: ExtensionUnderTest): Promise<LayerSize> {
  let entries: ZipInput[];
  if (ext.isProject) {
    entries = [];
    for (const name of [LAYER_PATHS.launcher, LAYER_PATHS.bundle, LAYER_PATHS.config]) {
      const path = join(ext.optDir, name);
      const st = statSync(path, { throwIfNoEntry: false });
      if (st?.isFile()) entries.push({ name, data: readFileSync(path), mode: st.mode & 0o777 });
    }
    const { report, why } = packagingReport(entries);
    const nodejs = report?.zips?.find((z) => z.flavour === 'nodejs');
    if (report && nodejs?.zipBytes !== undefined && nodejs.unpackedBytes !== undefined) {
      return {
        zipBytes: nodejs.zipBytes,
        unzippedBytes: nodejs.unpackedBytes,
        files: nodejs.entries?.length ?? entries.length,
        source: `${why}; Node.js-runtime flavour`,
        withNode: (report.zips ?? [])
          .filter((z) => z.flavour !== 'nodejs' && z.zipBytes !== undefined && z.unpackedBytes !== undefined)
          .map((z) => ({
            flavour: z.flavour ?? '?',
            zipBytes: z.zipBytes as number,
            unzippedBytes: z.unpackedBytes as number,
          })),
      };
    }
    return {
      zipBytes: await zippedBytes(entries),
      unzippedBytes: entries.reduce((n, e) => n + e.data.length, 0),
      files: entries.length,
      source: `build/layer zipped in memory, Node.js-runtime flavour (${why})`,
    };
  }
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
    source: `${ext.kind === 'executable' ? 'the executable' : 'the layer directory'} zipped in memory`,
  };
}
