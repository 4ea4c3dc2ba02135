// TCP listening on node:net. Node loads node:net at start-up anyway, so nothing is saved by waiting.

import type { AddressInfo } from 'node:net';
import { nodeBuiltin } from '../node-builtin.js';
import type { StreamSocket, TcpListener, TcpListenOptions } from '../port.js';

export async function listenNodeTcp(
  options: TcpListenOptions,
  onConnection: (socket: StreamSocket) => void,
): Promise<TcpListener> {
  const net = nodeBuiltin('node:net');
  const server = net.createServer(onConnection);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: options.host, port: options.port, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => options.onError?.(err));
  server.unref();
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
