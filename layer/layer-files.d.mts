// Types of layer-files.mjs (plain JavaScript so the layer builds with `node` alone).
import type { ZipInput } from './layer-zip.mjs';

export type LayerFlavour = 'nodejs' | 'x86_64' | 'arm64';

export interface LayerFlavourSpec {
  readonly architectures: string[];
  readonly runtimes: string[] | 'all';
  /** The architecture of the compiled executable the flavour ships; none in the nodejs flavour. */
  readonly executable: 'x86_64' | 'arm64' | undefined;
}

export interface LayerSources {
  launcher: Buffer;
  bundle: Buffer;
  /** Parts of the bundle loaded on first use (chunk-*.mjs next to index.mjs). */
  chunks?: { name: string; data: Buffer }[];
  config?: Buffer | undefined;
  /** The compiled executable (architecture flavours). */
  executable?: Buffer | undefined;
}

export const EXTENSION_NAME: 'otel-lambda-extension';
export const REPO_ROOT: string;
export const LAYER_FLAVOURS: Readonly<Record<LayerFlavour, LayerFlavourSpec>>;
export const LAYER_PATHS: Readonly<{ launcher: string; bundle: string; config: string; executable: string }>;
export function zipFileName(flavour: LayerFlavour): string;
export function readLayerSources(root?: string): Promise<LayerSources>;
export function layerEntries(sources: LayerSources): ZipInput[];
export function writeLayerDir(dir: string, entries: readonly ZipInput[]): Promise<void>;
