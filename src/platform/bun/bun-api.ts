// The few Bun APIs the port uses, typed here (Bun's own type package is not a dependency: this
// code is type-checked by the same tsc as the rest and runs only when `Bun` exists).

export interface BunServer {
  readonly port: number;
  readonly hostname: string;
  stop(closeActiveConnections?: boolean): Promise<void> | void;
  unref(): void;
}

export interface BunServeOptions {
  hostname: string;
  port: number;
  reusePort?: boolean;
  /** Seconds; 0 disables. */
  idleTimeout?: number;
  maxRequestBodySize?: number;
  fetch(request: Request): Response | Promise<Response>;
  error?(error: Error): Response;
}

/** A connection accepted by Bun.listen. */
export interface BunSocket<Data> {
  data: Data;
  /** Bytes taken (the rest must wait for `drain`); -1 once closed. */
  write(data: Uint8Array): number;
  end(): void;
  terminate(): void;
  pause(): void;
  resume(): void;
}

export interface BunSocketHandlers<Data> {
  open(socket: BunSocket<Data>): void;
  data(socket: BunSocket<Data>, data: Uint8Array): void;
  drain(socket: BunSocket<Data>): void;
  /** The peer finished sending. */
  end(socket: BunSocket<Data>): void;
  close(socket: BunSocket<Data>, error?: Error): void;
  error(socket: BunSocket<Data>, error: Error): void;
}

export interface BunTcpListener {
  readonly port: number;
  stop(closeActiveConnections?: boolean): void;
  unref(): void;
}

/** Bun.file(path).stat(): like Node's fs.Stats (follows symbolic links). */
export interface BunFileStat {
  readonly size: number;
  isFile(): boolean;
  isDirectory(): boolean;
  isFIFO(): boolean;
  isCharacterDevice(): boolean;
  isBlockDevice(): boolean;
  isSocket(): boolean;
}

/** A lazily opened file (Bun.file); errors reject with Node-style `code`s (ENOENT, EACCES, …). */
export interface BunFile {
  stat(): Promise<BunFileStat>;
  /** Bytes [begin, end), read only when asked for. */
  slice(begin: number, end: number): BunFile;
  bytes(): Promise<Uint8Array>;
}

export interface BunApi {
  serve(options: BunServeOptions): BunServer;
  /** Throws when the address cannot be bound (EADDRINUSE...). */
  listen<Data>(options: {
    hostname: string;
    port: number;
    exclusive?: boolean;
    socket: BunSocketHandlers<Data>;
  }): BunTcpListener;
  gzipSync(data: Uint8Array, options?: { level?: number; memLevel?: number }): Uint8Array;
  gc(force: boolean): void;
  readonly dns: { lookup(host: string): Promise<{ address: string }[]> };
  readonly version: string;
  file(path: string): BunFile;
}

export function bunApi(): BunApi | undefined {
  return (globalThis as { Bun?: BunApi }).Bun;
}
