// Whether the runtime has exited, read from the kernel's socket tables: the Runtime API's open
// connections are counted as this process's or another's, IPv4 and IPv4-mapped IPv6, and anything
// that cannot be read or does not show this process's own connection means "cannot tell".

import assert from 'node:assert/strict';
import { connect, createServer, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import {
  findRuntimeProcesses,
  type ProcessTable,
  type RuntimeApiConnections,
  runtimeApiProbe,
  RuntimeExitWatch,
  runtimeExited,
  type SocketTables,
} from '../../src/lambda/runtime-presence.js';

const HEADER =
  '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode';

/** A /proc/net/tcp line: `remote` as the kernel writes it, state hex, inode. */
function row(remote: string, state: string, inode: number, local = '0100007F:A000'): string {
  return `   0: ${local} ${remote} ${state} 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0000000000000000 20 4 30 10 -1`;
}

function tables(tcp: string[] | undefined, tcp6: string[] | undefined, own: number[]): SocketTables {
  return {
    table: (name) => {
      const rows = name === 'tcp' ? tcp : tcp6;
      return rows ? [HEADER, ...rows].join('\n') : undefined;
    },
    ownSocketInodes: () => new Set(own.map(String)),
  };
}

interface FakeProcess {
  parent: number;
  env?: string;
  state: string;
  startTime: string;
}

/**
 * 1 ← 10 (the launcher) ← 11 (this process); 1's other children: the runtime (20), another
 * extension (30), a zombie runtime (40), another environment's runtime (50).
 */
function fakeProcesses(): ProcessTable & { processes: Map<number, FakeProcess> } {
  const env = (...vars: string[]) => `${vars.join('\0')}\0`;
  const processes = new Map<number, FakeProcess>([
    [1, { parent: 0, state: 'S', startTime: '1' }],
    [10, { parent: 1, state: 'S', startTime: '5', env: env('AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001') }],
    [11, { parent: 10, state: 'S', startTime: '6', env: env('AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001') }],
    [
      20,
      {
        parent: 1,
        state: 'S',
        startTime: '7',
        env: env('_HANDLER=index.handler', 'AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001'),
      },
    ],
    [30, { parent: 1, state: 'S', startTime: '8', env: env('AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001') }],
    [
      40,
      {
        parent: 1,
        state: 'Z',
        startTime: '9',
        env: env('_HANDLER=a.b', 'AWS_LAMBDA_RUNTIME_API=127.0.0.1:9001'),
      },
    ],
    [
      50,
      {
        parent: 1,
        state: 'S',
        startTime: '9',
        env: env('_HANDLER=a.b', 'AWS_LAMBDA_RUNTIME_API=127.0.0.1:9002'),
      },
    ],
  ]);
  return {
    processes,
    self: 11,
    parentOf: (pid) => processes.get(pid)?.parent,
    childrenOf: (pid) => [...processes].filter(([, p]) => p.parent === pid).map(([child]) => child),
    environ: (pid) => processes.get(pid)?.env,
    stat: (pid) => {
      const p = processes.get(pid);
      return p && { state: p.state, startTime: p.startTime, parent: p.parent };
    },
  };
}

const NO_PROCESSES: ProcessTable = {
  self: 11,
  parentOf: () => undefined,
  childrenOf: () => [],
  environ: () => undefined,
  stat: () => undefined,
};

// 127.0.0.1:9001 as /proc/net/tcp writes it.
const API = '0100007F:2329';
const API6 = '0000000000000000FFFF00000100007F:2329';

/** A watch whose socket-table probe answers `answer` and counts its calls. */
function countingWatch(answer: RuntimeApiConnections | undefined, procs: ProcessTable) {
  const counted = { probes: 0 };
  const watch = new RuntimeExitWatch(
    '127.0.0.1:9001',
    () => {
      counted.probes++;
      return answer;
    },
    procs,
  );
  return { watch, counted };
}

describe('runtime presence', () => {
  it("tells this process's open connections to the Runtime API from other processes'", () => {
    const noise = [
      row(API, '06', 0), // TIME_WAIT: closed
      row(API, '08', 33), // CLOSE_WAIT: the peer has gone
      row('0100007F:2328', '01', 44), // another port
      row('0200007F:2329', '01', 55), // another address
    ];
    const ours = row(API, '01', 11);
    assert.deepEqual(runtimeApiProbe('127.0.0.1:9001', tables([ours, ...noise], [], [11]))(), {
      own: 1,
      others: 0,
    });
    // The runtime's /next over IPv4, or IPv4-mapped on an IPv6 socket.
    const runtime = row(API, '01', 22);
    assert.deepEqual(runtimeApiProbe('127.0.0.1:9001', tables([ours, runtime, ...noise], [], [11]))(), {
      own: 1,
      others: 1,
    });
    assert.deepEqual(
      runtimeApiProbe('127.0.0.1:9001', tables([ours, ...noise], [row(API6, '01', 66)], [11]))(),
      { own: 1, others: 1 },
    );
  });

  it('reads tcp6 only when tcp does not show another process already', () => {
    const read: string[] = [];
    const probe = runtimeApiProbe('127.0.0.1:9001', {
      table: (name) => {
        read.push(name);
        return [HEADER, row(API, '01', 11), row(API, '01', 22)].join('\n');
      },
      ownSocketInodes: () => new Set(['11']),
    });
    assert.deepEqual(probe(), { own: 1, others: 1 });
    assert.deepEqual(read, ['tcp']);
  });

  it('the runtime has exited when only this process holds a connection', () => {
    const gone = runtimeApiProbe('127.0.0.1:9001', tables([row(API, '01', 11), row(API, '06', 0)], [], [11]));
    assert.equal(runtimeExited(gone), true);
    const alive = runtimeApiProbe(
      '127.0.0.1:9001',
      tables([row(API, '01', 11), row(API, '01', 12)], [], [11]),
    );
    assert.equal(runtimeExited(alive), false);
  });

  it('cannot tell without its own connection in the tables, without tables, or without an address', () => {
    // A view of the tables that does not show this process's connection is not trusted.
    assert.equal(runtimeExited(runtimeApiProbe('127.0.0.1:9001', tables([], [], [11]))), false);
    assert.equal(runtimeApiProbe('127.0.0.1:9001', tables(undefined, undefined, [11]))(), undefined);
    assert.equal(runtimeApiProbe(undefined, tables([row(API, '01', 11)], [], [11]))(), undefined);
    const throwing: SocketTables = {
      table: () => {
        throw new Error('EACCES');
      },
      ownSocketInodes: () => new Set(),
    };
    assert.equal(runtimeApiProbe('127.0.0.1:9001', throwing)(), undefined);
  });

  it('a host name is matched by port alone', () => {
    const probe = runtimeApiProbe(
      'localhost:9001',
      tables([row(API, '01', 11), row(API6, '01', 12)], [], [11]),
    );
    assert.deepEqual(probe(), { own: 1, others: 1 });
  });

  it('polled, a slow probe is not repeated before its cost is a third of the time since', () => {
    let now = 0;
    let probes = 0;
    let others = 1;
    const watch = new RuntimeExitWatch(
      '127.0.0.1:9001',
      () => {
        probes++;
        now += 4; // each probe takes 4 ms
        return { own: 1, others };
      },
      NO_PROCESSES,
      () => now,
    );
    assert.equal(watch.exited(), false);
    now += 6; // 6 ms after a 4 ms probe: 8 ms are due
    assert.equal(watch.exited(), false);
    assert.equal(probes, 1);
    now += 2;
    others = 0;
    assert.equal(watch.exited(), true);
    assert.equal(probes, 2);
    others = 1; // a new connection after the exit (another process) does not bring the runtime back
    assert.equal(watch.exited(), true);
    assert.equal(probes, 2);
  });

  it('finds the runtime among the processes started beside the extension by its environment', () => {
    const procs = fakeProcesses();
    const found = findRuntimeProcesses('127.0.0.1:9001', procs);
    assert.deepEqual(
      found.map((p) => p.pid),
      [20],
      'the runtime only: not another extension, another environment’s runtime, a zombie, or an ancestor',
    );
  });

  it('watches the runtime process once found, without reading the socket tables', () => {
    const procs = fakeProcesses();
    const { watch, counted } = countingWatch({ own: 1, others: 0 }, procs);
    assert.equal(watch.exited(), false);
    procs.processes.set(20, { ...(procs.processes.get(20) as FakeProcess), state: 'Z' });
    assert.equal(watch.exited(), true, 'a zombie has exited');
    assert.equal(counted.probes, 0);
    // Gone entirely, or its pid taken by a new process: exited too.
    const again = fakeProcesses();
    const watch2 = new RuntimeExitWatch('127.0.0.1:9001', () => undefined, again);
    assert.equal(watch2.exited(), false);
    again.processes.set(20, { ...(again.processes.get(20) as FakeProcess), startTime: '999' });
    assert.equal(watch2.exited(), true);
  });

  it('found at the first look while the runtime runs, its exit is seen later without the tables', () => {
    const procs = fakeProcesses();
    const { watch, counted } = countingWatch(undefined, procs);
    assert.equal(watch.exited(), false, 'the first look, while the runtime runs');
    procs.processes.delete(20); // gone and reaped before the next look
    assert.equal(watch.exited(), true);
    assert.equal(counted.probes, 0);
  });

  it('falls back to the socket tables when no runtime process can be found', () => {
    const { watch, counted } = countingWatch({ own: 1, others: 0 }, NO_PROCESSES);
    assert.equal(watch.exited(), true);
    assert.equal(counted.probes, 1);
  });

  it('reads the real tables on Linux: a connection of this process is its own', async (t) => {
    if (process.platform !== 'linux') return t.skip('Linux only');
    const peers: Socket[] = [];
    const server = createServer((s) => peers.push(s));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as { port: number };
    const client = connect(port, '127.0.0.1');
    try {
      await new Promise<void>((resolve) => client.once('connect', () => resolve()));
      const probe = runtimeApiProbe(`127.0.0.1:${port}`);
      // The accepted side's remote address is the client's port, not the server's: not counted.
      assert.deepEqual(probe(), { own: 1, others: 0 });
      assert.equal(runtimeExited(probe), true);
    } finally {
      client.destroy();
      for (const p of peers) p.destroy();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
