/**
 * Runs a recipe's build lines (SPEC §2.3): each line by itself with
 * `bash -euo pipefail` and umask 022, in the clean build environment,
 * sandboxed when a sandbox is available, stopping at the first failure.
 * Everything the lines print goes to one log file and nowhere else.
 */
import { open, mkdir, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BuilditError } from '../errors.ts';
import { SYSTEM_PATH } from './env.ts';
import { findExecutable, sandboxArgv, type Sandbox } from './sandbox.ts';

export interface RunBuildLinesOptions {
  lines: string[];
  /** The unpacked source folder the lines run in. */
  cwd: string;
  /** The whole environment; nothing of buildit's own is added (see buildEnv). */
  env: Record<string, string>;
  sandbox: Sandbox;
  /** Folders the build may write to when sandboxed (work dir, DESTDIR, HOME). */
  writable: string[];
  /** Folders to show read-only although under /tmp or /run (see SandboxLayout). */
  readonly?: string[];
  /** Appended to: `$ <line>` headers and the lines' stdout and stderr. */
  logFile: string;
  /** Aborting kills the running line's process group and rejects with the signal's reason. */
  signal?: AbortSignal;
  /** The shell; default: the host's bash. */
  shell?: string;
}

/** How many of the log's last lines a failure's hint shows. */
export const TAIL_LINES = 30;

export async function runBuildLines(options: RunBuildLinesOptions): Promise<void> {
  const { signal } = options;
  signal?.throwIfAborted();
  const shell = options.shell ?? (await hostBash());
  await mkdir(path.dirname(options.logFile), { recursive: true });
  // One descriptor, opened for appending, is both the child's stdout and its
  // stderr: the kernel keeps their interleaving and nothing is buffered here.
  const log = await open(options.logFile, 'a+');
  try {
    for (const [index, line] of options.lines.entries()) {
      signal?.throwIfAborted();
      await log.write(`${(await endsMidLine(log)) ? '\n' : ''}$ ${line}\n`);
      // umask is set by the script itself: it then holds for every process the line starts.
      const command = [shell, '--noprofile', '--norc', '-euo', 'pipefail', '-c', `umask 022\n${line}`];
      const failure = await runOne(options, command, log.fd);
      signal?.throwIfAborted();
      if (failure !== undefined) {
        throw new BuilditError(
          'BUILDIT_BUILD_FAILED',
          `build line ${index + 1} ${failure.message}: ${line}`,
          {
            hint: await failureHint(options.logFile, failure.exitCode),
            exitCode: 1,
          },
        );
      }
    }
  } finally {
    await log.close();
  }
}

interface Failure {
  message: string;
  exitCode?: number;
}

/** Runs one line; says how it failed, or undefined when it succeeded. */
async function runOne(
  options: RunBuildLinesOptions,
  command: string[],
  logFd: number,
): Promise<Failure | undefined> {
  const [file, ...args] = sandboxArgv(
    options.sandbox,
    { cwd: options.cwd, writable: options.writable, readonly: options.readonly ?? [] },
    command,
  );
  // Loaded when a build runs: a run that finds everything built never pays for execa (~40 ms).
  const { execa } = await import('execa');
  const child = execa(file!, args, {
    cwd: options.cwd,
    env: options.env,
    extendEnv: false,
    stdin: 'ignore',
    // execa's types list only descriptors 3 to 9; at run time it hands any to spawn().
    stdout: logFd as 3,
    stderr: logFd as 3,
    // Its own process group, so that aborting reaches everything the line started.
    detached: true,
    reject: false,
  });
  const pid = child.pid;
  const kill = () => {
    if (pid !== undefined) killGroup(pid);
  };
  if (pid !== undefined) track(pid);
  options.signal?.addEventListener('abort', kill, { once: true });
  try {
    const result = await child;
    if (!result.failed) return undefined;
    const { exitCode } = result;
    if (typeof exitCode === 'number') return { message: `failed with exit code ${exitCode}`, exitCode };
    if (result.signal) return { message: `killed by ${result.signal}` };
    const why = result.originalMessage || result.shortMessage || 'unknown reason';
    return { message: `could not start: ${why.split('\n')[0]}` };
  } finally {
    options.signal?.removeEventListener('abort', kill);
    if (pid !== undefined) running.delete(pid);
  }
}

/**
 * The last `n` lines of a text file, read from its end: a build log can be
 * gigabytes. At most `maxBytes` are read; a line cut by that limit starts with `…`.
 */
export async function tailLines(file: string, n: number, maxBytes = 256 * 1024): Promise<string[]> {
  if (n <= 0) return [];
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const floor = Math.max(0, size - maxBytes);
    const chunks: Buffer[] = [];
    let start = size;
    let newlines = 0;
    // n lines need n + 1 newlines before the end (one ends the last line) to be known whole.
    while (start > floor && newlines <= n) {
      const from = Math.max(floor, start - 64 * 1024);
      const chunk = Buffer.alloc(start - from);
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, from);
      const read = chunk.subarray(0, bytesRead);
      chunks.unshift(read);
      newlines += countNewlines(read);
      start = from;
    }
    const lines = Buffer.concat(chunks).toString('utf8').split('\n');
    if (lines.at(-1) === '') lines.pop();
    if (start > 0 && lines.length > 0) {
      // The first line began before what was read.
      if (lines.length > n) lines.shift();
      else lines[0] = `…${lines[0]}`;
    }
    return lines.slice(-n);
  } finally {
    await handle.close();
  }
}

async function failureHint(logFile: string, exitCode: number | undefined): Promise<string> {
  const tail = await tailLines(logFile, TAIL_LINES);
  // bash (and bwrap, for its child) report a process killed by signal n as exit code 128 + n.
  const signal = exitCode === undefined ? undefined : signalName(exitCode - 128);
  return [
    ...(signal
      ? [`exit code ${exitCode} usually means a process was killed by ${signal} (out of memory?)`]
      : []),
    `last ${tail.length} lines of the log:`,
    ...tail,
    `full log: ${logFile}`,
  ].join('\n');
}

function signalName(number: number): string | undefined {
  return Object.entries(os.constants.signals).find(([, n]) => n === number)?.[0];
}

function countNewlines(buffer: Buffer): number {
  let count = 0;
  for (let at = buffer.indexOf(10); at !== -1; at = buffer.indexOf(10, at + 1)) count += 1;
  return count;
}

/** True when the log's last byte is not a newline, so a header would be glued to output. */
async function endsMidLine(log: FileHandle): Promise<boolean> {
  const { size } = await log.stat();
  if (size === 0) return false;
  const last = Buffer.alloc(1);
  await log.read(last, 0, 1, size - 1);
  return last[0] !== 10;
}

/** The host's bash, preferring the system's over one earlier on our own PATH. */
async function hostBash(): Promise<string> {
  return (
    (await findExecutable('bash', SYSTEM_PATH)) ??
    (await findExecutable('bash', process.env['PATH'])) ??
    'bash'
  );
}

/*
 * Lines run in their own process groups, which Node does not kill when it
 * exits; kill whatever is still running then. (A sandboxed line also dies
 * with bwrap's --die-with-parent.)
 */
const running = new Set<number>();
let exitHook = false;

function track(pid: number): void {
  running.add(pid);
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const group of running) killGroup(group);
  });
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // already gone
  }
}
