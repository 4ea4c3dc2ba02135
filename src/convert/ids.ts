// Trace and span ids for spans Lambda gives no id for. Random bytes come from a pooled buffer
// (one crypto call per 4 KiB, not per id) and are hex-encoded through a lookup table. The Web Crypto
// global rather than node:crypto: the same CSPRNG, and on Bun loading node:crypto costs ~8 ms of CPU
// and ~6 MB of memory.

export interface IdGenerator {
  /** 32 lowercase hex digits, not all zero. */
  traceId(): string;
  /** 16 lowercase hex digits, not all zero. */
  spanId(): string;
}

const HEX: string[] = [];
for (let i = 0; i < 256; i++) HEX.push(i.toString(16).padStart(2, '0'));

const POOL_BYTES = 4096;

export class RandomIdGenerator implements IdGenerator {
  private pool = new Uint8Array(POOL_BYTES);
  private offset = POOL_BYTES;

  traceId(): string {
    return this.hex(16);
  }

  spanId(): string {
    return this.hex(8);
  }

  /**
   * Drops the buffered randomness. Called after a SnapStart restore: every environment restored
   * from one snapshot would otherwise hand out the same ids.
   */
  reseed(): void {
    this.offset = POOL_BYTES;
  }

  private hex(bytes: number): string {
    for (;;) {
      if (this.offset + bytes > POOL_BYTES) {
        globalThis.crypto.getRandomValues(this.pool);
        this.offset = 0;
      }
      const pool = this.pool;
      const start = this.offset;
      this.offset += bytes;
      let out = '';
      let zero = true;
      for (let i = start; i < start + bytes; i++) {
        const b = pool[i] as number;
        if (b !== 0) zero = false;
        out += HEX[b];
      }
      // An all-zero id is invalid in OTLP; astronomically rare, but never emit one.
      if (!zero) return out;
    }
  }
}

const HEX_RE = /^[0-9a-f]+$/;

export function isValidTraceId(id: string): boolean {
  return id.length === 32 && HEX_RE.test(id) && id !== '00000000000000000000000000000000';
}

export function isValidSpanId(id: string): boolean {
  return id.length === 16 && HEX_RE.test(id) && id !== '0000000000000000';
}
