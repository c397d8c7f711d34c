/**
 * The toolchain id: which compiler and libc a build on this machine uses.
 * It is part of every identity, so a package built with another compiler is
 * another package. BUILDIT_TOOLCHAIN overrides the probe (pinned build hosts, tests).
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:fs';
import { access, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';

export interface ProbeOptions {
  /**
   * Where the probe's answer is remembered (`<store>/cache/toolchain.json`). Three subprocesses
   * cost 15–40 ms of every command, more than half of a no-op rebuild's work; the answer only
   * changes when the compiler, getconf or libc files do, which is what the cache is keyed by.
   */
  cacheFile?: string;
}

const CACHE_SCHEMA = 'buildit-toolchain-cache/v1';

export async function probeToolchain(
  env: NodeJS.ProcessEnv = process.env,
  options: ProbeOptions = {},
): Promise<string> {
  const pinned = env['BUILDIT_TOOLCHAIN'];
  if (pinned) return pinned;
  const searchPath = env['PATH'] ?? '/usr/bin:/bin';
  const [cc, getconf, libc] = await Promise.all([
    findProgram('cc', searchPath),
    findProgram('getconf', searchPath),
    ownLibc(),
  ]);
  // Any file that could change an answer, by path, size, times and inode: a reinstall changes ctime.
  const stamps = [await stamp(cc), await stamp(getconf), await stamp(libc)];
  const key = JSON.stringify(stamps);
  if (options.cacheFile) {
    const cached = await readCache(options.cacheFile, key);
    if (cached !== undefined) return cached;
  }
  const childEnv = { LC_ALL: 'C', PATH: searchPath };
  const [version, machine, libcVersion] = await Promise.all([
    firstLine(cc, 'cc', ['--version'], childEnv),
    firstLine(cc, 'cc', ['-dumpmachine'], childEnv),
    firstLine(getconf, 'getconf', ['GNU_LIBC_VERSION'], childEnv),
  ]);
  const toolchain = `cc=${version ?? 'none'}; target=${machine ?? 'unknown'}; libc=${libcVersion ?? 'unknown'}`;
  if (options.cacheFile) {
    const body = `${JSON.stringify({ schema: CACHE_SCHEMA, key: stamps, toolchain })}\n`;
    // A cache that cannot be written (read-only store, full disk) only costs the next command a probe.
    await writeFileAtomic(options.cacheFile, body).catch(() => undefined);
  }
  return toolchain;
}

async function readCache(file: string, key: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return undefined; // absent or unreadable: probe
  }
  try {
    const value = JSON.parse(text) as { schema?: unknown; key?: unknown; toolchain?: unknown };
    if (
      value.schema === CACHE_SCHEMA &&
      JSON.stringify(value.key) === key &&
      typeof value.toolchain === 'string'
    ) {
      return value.toolchain;
    }
  } catch {
    // A torn or foreign file: probe and overwrite it.
  }
  return undefined;
}

/** The first executable `name` on `searchPath`, as execvp would pick it (empty entries are the cwd). */
async function findProgram(name: string, searchPath: string): Promise<string | undefined> {
  for (const dir of searchPath.split(path.delimiter)) {
    const file = path.resolve(dir || '.', name);
    try {
      await access(file, constants.X_OK);
      if ((await stat(file)).isFile()) return file;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The C library this process runs on (the host's libc), from the kernel's map of our memory. */
async function ownLibc(): Promise<string | undefined> {
  try {
    const maps = await readFile('/proc/self/maps', 'utf8');
    return /\s(\/\S*\/libc(?:-[\d.]+)?\.so\S*)$/m.exec(maps)?.[1];
  } catch {
    return undefined; // not Linux: getconf's stamp has to do
  }
}

async function stamp(file: string | undefined): Promise<unknown> {
  if (file === undefined) return null;
  try {
    const real = await realpath(file);
    const s = await stat(real);
    return [file, real, s.dev, s.ino, s.size, s.mtimeMs, s.ctimeMs];
  } catch {
    return [file, 'unreadable'];
  }
}

/** The first line of what `file` prints, run as `argv0` (gcc names itself after it), or undefined. */
function firstLine(
  file: string | undefined,
  argv0: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<string | undefined> {
  if (file === undefined) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    const child = spawn(file, args, { argv0, env, stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => resolve(code === 0 ? out.split('\n')[0]?.trim() || undefined : undefined));
  });
}

/** OCI names for this host (SPEC §2.1 defaults for os and arch). */
export function hostTarget(): { os: string; arch: string } {
  const arch: Record<string, string> = {
    x64: 'amd64',
    arm64: 'arm64',
    ia32: '386',
    arm: 'arm',
    ppc64: 'ppc64le',
    s390x: 's390x',
    riscv64: 'riscv64',
    loong64: 'loong64',
    mips64el: 'mips64le',
  };
  return {
    os: process.platform === 'win32' ? 'windows' : process.platform,
    arch: arch[process.arch] ?? process.arch,
  };
}
