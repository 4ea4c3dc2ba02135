// Runs inside an environment's network namespace (the platform's side, outside its cgroup): the
// environment's own loopback gets the Runtime API at 127.0.0.1:9001 and the host ports a test
// forwards, each relayed over a Unix socket to the simulator; and the simulator reaches listeners
// inside (Telemetry API pushes) through another Unix socket. Every relayed connection starts with
// one line, the target port. Argument: JSON {hostSocket, inboundSocket, listen: [[port, hostPort]]}.
import { connect, createServer } from 'node:net';

const config = JSON.parse(process.argv[2] ?? '{}');

/** Reads the first line (the port), then pipes the rest both ways to what `open(port)` returns. */
function relayWithPrefix(socket, open) {
  let buffered = Buffer.alloc(0);
  const onData = (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    const newline = buffered.indexOf(10);
    if (newline < 0) return;
    socket.off('data', onData);
    const port = Number(buffered.subarray(0, newline).toString('utf8'));
    const rest = buffered.subarray(newline + 1);
    const target = open(port);
    target.on('error', () => socket.destroy());
    socket.on('error', () => target.destroy());
    if (rest.length > 0) target.write(rest);
    socket.pipe(target);
    target.pipe(socket);
  };
  socket.on('data', onData);
}

const servers = [];
for (const [port, hostPort] of config.listen ?? []) {
  const server = createServer((socket) => {
    socket.setNoDelay(true);
    const upstream = connect(config.hostSocket);
    upstream.write(`${hostPort}\n`);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
    socket.pipe(upstream);
    upstream.pipe(socket);
  });
  servers.push(
    new Promise((resolve, reject) => server.listen(port, '127.0.0.1', resolve).on('error', reject)),
  );
}
const inbound = createServer((socket) => {
  relayWithPrefix(socket, (port) => connect(port, '127.0.0.1').setNoDelay(true));
});
servers.push(
  new Promise((resolve, reject) => inbound.listen(config.inboundSocket, resolve).on('error', reject)),
);

Promise.all(servers).then(
  () => process.stdout.write('ready\n'),
  (error) => {
    process.stderr.write(`forwarder: ${error.message}\n`);
    process.exit(1);
  },
);
