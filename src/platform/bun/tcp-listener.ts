// TCP listening on Bun.listen. Bun's node:net costs ~13 ms of CPU and ~7 MB to load; Bun.listen costs
// next to nothing. The OTLP/gRPC receiver listens at every start but most functions never connect,
// so each connection is bridged into a Node.js Duplex (what node:http2 takes), and node:stream is
// loaded by the first connection only.

import { nodeBuiltin } from '../node-builtin.js';
import type { StreamSocket, TcpListener, TcpListenOptions } from '../port.js';
import type { BunApi, BunSocket } from './bun-api.js';

type Duplex = import('node:stream').Duplex;

/** The Duplex end of one Bun socket. */
interface SocketBridge extends Duplex {
  readonly socket: BunSocket<SocketBridge>;
  /** Writes held back until Bun drains the socket. */
  flushPending(): void;
  peerEnded(): void;
}

type BridgeClass = new (socket: BunSocket<SocketBridge>) => SocketBridge;
let Bridge: BridgeClass | undefined;

function bridgeClass(): BridgeClass {
  if (Bridge) return Bridge;
  const { Duplex } = nodeBuiltin('node:stream');
  Bridge = class extends Duplex implements SocketBridge {
    private pending: Uint8Array | undefined;
    private pendingDone: ((error?: Error | null) => void) | undefined;
    private ended = false;

    constructor(readonly socket: BunSocket<SocketBridge>) {
      super();
    }

    override _read(): void {
      this.socket.resume();
    }

    override _write(chunk: Uint8Array, _encoding: string, done: (error?: Error | null) => void): void {
      const written = this.socket.write(chunk);
      if (written < 0) done(new Error('connection closed'));
      else if (written === chunk.byteLength) done();
      else {
        // The stream waits for `done` before the next write: at most one chunk is ever held.
        this.pending = chunk.subarray(written);
        this.pendingDone = done;
      }
    }

    flushPending(): void {
      const chunk = this.pending;
      if (!chunk) return;
      const written = this.socket.write(chunk);
      if (written >= 0 && written < chunk.byteLength) {
        this.pending = chunk.subarray(written);
        return;
      }
      const done = this.pendingDone;
      this.pending = undefined;
      this.pendingDone = undefined;
      done?.(written < 0 ? new Error('connection closed') : null);
    }

    override _final(done: (error?: Error | null) => void): void {
      this.socket.end();
      done();
    }

    override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
      this.socket.terminate();
      const pendingDone = this.pendingDone;
      this.pendingDone = undefined;
      pendingDone?.(error ?? new Error('connection closed'));
      done(error);
    }

    peerEnded(): void {
      if (this.ended) return;
      this.ended = true;
      this.push(null);
    }
  };
  return Bridge;
}

export async function listenBunTcp(
  bun: BunApi,
  options: TcpListenOptions,
  onConnection: (socket: StreamSocket) => void,
): Promise<TcpListener> {
  const listener = bun.listen<SocketBridge>({
    hostname: options.host,
    port: options.port,
    exclusive: true,
    socket: {
      open(socket) {
        const Bridge = bridgeClass();
        socket.data = new Bridge(socket);
        onConnection(socket.data);
      },
      data(socket, data) {
        // Copied: the stream may hold the piece past this callback.
        if (!socket.data.push(Buffer.from(data))) socket.pause();
      },
      drain(socket) {
        socket.data.flushPending();
      },
      end(socket) {
        socket.data.peerEnded();
      },
      close(socket, error) {
        if (error) socket.data.destroy(error);
        else socket.data.peerEnded();
      },
      error(socket, error) {
        socket.data.destroy(error);
      },
    },
  });
  listener.unref();
  return {
    port: listener.port,
    close: async () => listener.stop(false),
  };
}
