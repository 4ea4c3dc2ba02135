// sandbox.localdomain for the environment's processes, as on Lambda: every process starts in a
// private mount namespace where /etc/hosts is a copy of this machine's with sandbox.localdomain
// added, so extensions resolve it from the file and no DNS query leaves the machine. Where a mount
// namespace cannot be made (not root, no unshare), processes see the system's /etc/hosts and the
// name goes to the system resolver; `mode` and `reason` say so.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SANDBOX_HOST = 'sandbox.localdomain';

export interface SandboxHostsInfo {
  /** 'private-mount': /etc/hosts bind-mounted in a mount namespace per process; 'system': none. */
  mode: 'private-mount' | 'system';
  /** What sandbox.localdomain resolves to inside the environment. */
  sandboxAddress: string;
  reason?: string;
}

let unshareWorks: string | true | undefined;
// The processes' PATH is Lambda's, not this machine's: call unshare by its full path.
const UNSHARE = ['/usr/bin/unshare', '/bin/unshare'].find((p) => existsSync(p)) ?? 'unshare';

/** Whether this machine lets us make a mount namespace and bind-mount (root with CAP_SYS_ADMIN). */
function probeUnshare(): string | true {
  if (unshareWorks !== undefined) return unshareWorks;
  try {
    execFileSync(
      UNSHARE,
      ['--mount', '--propagation', 'private', '--', '/bin/sh', '-c', 'mount --bind /etc/hosts /etc/hosts'],
      { stdio: ['ignore', 'ignore', 'pipe'], timeout: 5000 },
    );
    unshareWorks = true;
  } catch (error) {
    const stderr = (error as { stderr?: Buffer }).stderr?.toString().trim();
    unshareWorks = `no private mount namespace: ${stderr || (error as Error).message}`;
  }
  return unshareWorks;
}

export class SandboxHosts {
  readonly info: SandboxHostsInfo;
  private readonly dir: string | null;
  private readonly hostsFile: string | null;

  private constructor(info: SandboxHostsInfo, dir: string | null) {
    this.info = info;
    this.dir = dir;
    this.hostsFile = dir ? join(dir, 'hosts') : null;
  }

  /** `enabled: false` keeps the system's /etc/hosts (the name then goes to the resolver). */
  static create(sandboxAddress: string, enabled = true): SandboxHosts {
    if (!enabled) return new SandboxHosts({ mode: 'system', sandboxAddress, reason: 'turned off' }, null);
    const probe = probeUnshare();
    if (probe !== true) return new SandboxHosts({ mode: 'system', sandboxAddress, reason: probe }, null);
    const dir = mkdtempSync(join(tmpdir(), 'lambda-sim-etc-'));
    let system = '';
    try {
      system = readFileSync('/etc/hosts', 'utf8');
    } catch {
      // no hosts file: localhost still resolves through the resolver's own rules
    }
    const lines = system
      .split('\n')
      .filter((l) => !new RegExp(`\\s${SANDBOX_HOST.replace('.', '\\.')}(\\s|$)`).test(l));
    writeFileSync(
      join(dir, 'hosts'),
      `${lines.join('\n').trimEnd()}\n# The Lambda environment's own address\n${sandboxAddress} ${SANDBOX_HOST}\n`,
    );
    return new SandboxHosts({ mode: 'private-mount', sandboxAddress }, dir);
  }

  /** The command running `command args` with the environment's /etc/hosts (exec'd: same pid). */
  wrap(command: string, args: string[]): { command: string; args: string[] } {
    if (!this.hostsFile) return { command, args };
    return {
      command: UNSHARE,
      args: [
        '--mount',
        '--propagation',
        'private',
        '--',
        '/bin/sh',
        '-c',
        `mount --bind '${this.hostsFile}' /etc/hosts && exec "$@"`,
        'lambda-sim',
        command,
        ...args,
      ],
    };
  }

  remove(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
  }
}
