// Types of layer-zip.mjs (plain JavaScript so the layer builds with `node` alone).

export interface ZipInput {
  name: string;
  data: Buffer;
  /** Permission bits, e.g. 0o755. */
  mode: number;
}

export interface ZipEntryInfo {
  name: string;
  /** Host system of the "version made by" field (3 = Unix). */
  madeBy: number;
  /** Unix mode from the external attributes (type and permission bits). */
  mode: number;
  method: number;
  dosTime: number;
  dosDate: number;
  crc32: number;
  compressedSize: number;
  size: number;
  extraLength: number;
  localHeaderOffset: number;
}

export const ZIP_MTIME: Date;
export function writeZip(
  outFile: string,
  entries: readonly ZipInput[],
): Promise<{ bytes: number; sha256: string }>;
export function readZip(bytes: Buffer): ZipEntryInfo[];
export function readZipEntry(bytes: Buffer, entry: ZipEntryInfo): Buffer;
export function unpackZip(bytes: Buffer, dir: string): Promise<void>;
export function hasFixedTimestamp(entry: ZipEntryInfo): boolean;
