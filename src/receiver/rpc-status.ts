// google.rpc.Status encoded by hand, for the error answers of both OTLP transports (the body of an
// OTLP/HTTP error, the grpc-status-details-bin trailer of OTLP/gRPC): an error answer must not wait
// for the lazily loaded OTLP schema.

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

function field(number: number, payload: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from([(number << 3) | 2, ...varint(payload.length)]), payload]);
}

/**
 * google.rpc.Status {code, message, details: [Any(google.rpc.RetryInfo {retry_delay})] when a retry
 * delay is given}.
 */
export function encodeRpcStatus(code: number, message: string, retryAfterSeconds?: number): Buffer {
  const parts = [Buffer.from([0x08, ...varint(code)]), field(2, Buffer.from(message, 'utf8'))];
  if (retryAfterSeconds !== undefined) {
    const duration = Buffer.from([0x08, ...varint(Math.max(0, Math.round(retryAfterSeconds)))]);
    const retryInfo = field(1, duration);
    const any = Buffer.concat([
      field(1, Buffer.from('type.googleapis.com/google.rpc.RetryInfo', 'utf8')),
      field(2, retryInfo),
    ]);
    parts.push(field(3, any));
  }
  return Buffer.concat(parts);
}
