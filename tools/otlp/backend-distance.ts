// A backend at a realistic distance: a TCP relay that adds a network round trip in front of a local
// server, and a self-signed certificate made at test time for a TLS backend. On Lambda a blocking
// flush waits for a round trip to a collector or vendor tens of milliseconds away (and a TCP + TLS
// handshake after every connection the freeze killed), not for a loopback sink 1 ms away.

import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A typical round trip from a Lambda function to a collector or vendor intake in the same region. */
export const REALISTIC_BACKEND_RTT_MS = 30;

export interface DistanceRelay {
  readonly port: number;
  /** Connections the relay accepted (each paid a connect round trip). */
  connections(): number;
  close(): Promise<void>;
}

/**
 * Relays 127.0.0.1:<port> to `target` with `roundTripMs` of latency: every chunk waits half of it in
 * each direction, and a new connection's first bytes wait one more round trip (the TCP handshake a
 * real connection pays before it can send). A TLS handshake through it costs its real round trips.
 */
export async function startDistanceRelay(target: number, roundTripMs: number): Promise<DistanceRelay> {
  const oneWay = roundTripMs / 2;
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((client) => {
    accepted++;
    const upstream = connect(target, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const connectedAt = Date.now() + roundTripMs;
    // Chunks keep their order: each is written at max(its due time, the previous one's).
    const relay = (from: Socket, to: Socket, extraUntil: number) => {
      let lastDue = 0;
      from.on('data', (chunk: Buffer) => {
        const due = Math.max(Date.now() + oneWay, extraUntil + oneWay, lastDue);
        lastDue = due;
        setTimeout(() => to.write(chunk), Math.max(0, due - Date.now()));
      });
      from.on('end', () => setTimeout(() => to.end(), Math.max(0, lastDue - Date.now())));
    };
    relay(client, upstream, connectedAt);
    relay(upstream, client, 0);
    const closeBoth = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', closeBoth);
    upstream.on('error', closeBoth);
    client.on('close', () => setTimeout(closeBoth, oneWay));
    upstream.on('close', () => setTimeout(closeBoth, oneWay));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    connections: () => accepted,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export interface TestCertificate {
  /** PEM key and certificate for the server. */
  key: string;
  cert: string;
  /** The certificate's file: give it to clients as NODE_EXTRA_CA_CERTS (it is its own CA). */
  certFile: string;
}

let cached: TestCertificate | undefined;

/**
 * A self-signed certificate for 127.0.0.1 and localhost, made with openssl at test time (once per
 * process, in a private temporary directory), never committed.
 */
export function testCertificate(): TestCertificate {
  if (cached) return cached;
  const dir = join(tmpdir(), `otel-lambda-test-tls-${process.pid}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  if (!existsSync(certFile)) {
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-days',
        '2',
        '-subj',
        '/CN=otlp-test-backend',
        '-addext',
        'subjectAltName=IP:127.0.0.1,DNS:localhost',
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-keyout',
        keyFile,
        '-out',
        certFile,
      ],
      { stdio: 'ignore' },
    );
  }
  cached = { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
  return cached;
}
