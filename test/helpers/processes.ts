/**
 * Process plumbing shared by the test servers (sshd, nginx, docker-registry,
 * the token issuer): spawning daemons with their logs, free ports, and a
 * last-resort kill of whatever a test forgot to stop.
 */
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { requireTool } from './tools.ts';

export const POLL_MS = 50;

/** Killers of every server still running, run when the test process exits. */
export const running = new Set<() => void>();
process.on('exit', () => {
  for (const kill of running) kill();
});

export function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Whether a process is still there. */
export function processAlive(pid: number): boolean {
  return existsSync(`/proc/${pid}`);
}

export function run(command: string, args: string[]): Promise<string> {
  requireTool(command);
  return new Promise((resolve, reject) => {
    execFile(command, args, { encoding: 'utf8', timeout: 120_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** A port that was free a moment ago (callers retry when a server fails to bind it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** Whether `pid` holds the socket listening on 127.0.0.1:`port` (not some other test's server). */
export function listensOn(pid: number | undefined, port: number): boolean {
  if (pid === undefined) return false;
  const local = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  const inodes = new Set<string>();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] === local && fields[3] === '0A' && fields[9] !== undefined)
      inodes.add(`socket:[${fields[9]}]`);
  }
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.has(readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** A spawned server process; its stdout and stderr go to `logFile`. */
export class Daemon {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<void>;
  private done = false;

  constructor(
    command: string,
    args: string[],
    readonly logFile: string,
    env: NodeJS.ProcessEnv = process.env,
  ) {
    const fd = openSync(logFile, 'w');
    try {
      // detached: its own process group, so a Ctrl-C at the terminal reaches the test runner only.
      this.child = spawn(command, args, { stdio: ['ignore', fd, fd], detached: true, env });
    } finally {
      closeSync(fd);
    }
    // A server a test forgot to stop must not keep the test process alive (the exit hook kills it).
    this.child.unref();
    this.exited = new Promise((resolve) => {
      const finish = (): void => {
        this.done = true;
        resolve();
      };
      this.child.once('exit', finish);
      this.child.once('error', finish);
    });
    if (this.child.pid === undefined) throw new Error(`could not start ${command} ${args.join(' ')}`);
    this.pid = this.child.pid;
  }

  get running(): boolean {
    return !this.done;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8').slice(-8000);
    } catch {
      return '';
    }
  }

  /** SIGKILL its whole process group now. */
  kill(): void {
    if (this.running) signal(-this.pid, 'SIGKILL');
  }

  /** Whether it exited within `ms` (the wait keeps the test process alive). */
  async waitExit(ms: number): Promise<boolean> {
    if (this.done) return true;
    this.child.ref();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), ms);
    });
    try {
      return await Promise.race([this.exited.then(() => true), timeout]);
    } finally {
      clearTimeout(timer);
      this.child.unref();
    }
  }
}
