import { spawnSync } from 'node:child_process';
import { chmodSync, linkSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { t as listTar } from 'tar';

/** A fresh folder under the OS temp dir, removed when the test ends. */
export function tempDir(t: TestContext, prefix = 'buildit-image-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export type Node =
  | string // a file with this content, mode 0644
  | { file: string; mode: number }
  | { dir: number } // a folder with this mode
  | { symlink: string }
  | { hardlink: string }; // path of a file made earlier

/** Writes `spec` under `root` in the order given; modes are set with chmod, so umask does not apply. */
export function writeTree(root: string, spec: [string, Node][]): void {
  for (const [path, node] of spec) {
    const full = join(root, path);
    mkdirSync(dirname(full), { recursive: true });
    if (typeof node === 'string') {
      writeFileSync(full, node);
    } else if ('file' in node) {
      writeFileSync(full, node.file);
      chmodSync(full, node.mode);
    } else if ('dir' in node) {
      mkdirSync(full, { recursive: true });
      chmodSync(full, node.dir);
    } else if ('symlink' in node) {
      symlinkSync(node.symlink, full);
    } else {
      linkSync(join(root, node.hardlink), full);
    }
  }
}

export async function collect(stream: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** What a reader saw for one entry; `type` is GNU tar's listing letter. */
export interface Listed {
  path: string;
  type: string;
  mode: number;
  owner: string;
  size: number;
  mtime: number;
  target?: string;
}

/** Runs a system command and fails with its stderr; a missing tool says how to install it. */
export function run(cmd: string, args: string[], input?: Buffer): string {
  const r = spawnSync(cmd, args, { input, env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } });
  if (r.error) throw new Error(`${cmd} failed to start (apt-get install tar coreutils): ${r.error.message}`);
  if (r.status !== 0 || r.stderr.length > 0) {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  }
  return r.stdout.toString('utf8');
}

const LINE = /^(\S)(\S{9}) (\d+\/\d+)\s+(\d+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (.*)$/;

export function gnuList(tarFile: string): Listed[] {
  const out = run('tar', ['--numeric-owner', '--full-time', '--quoting-style=literal', '-tvf', tarFile]);
  return out
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const m = LINE.exec(line);
      if (!m) throw new Error(`unexpected tar -tv line: ${line}`);
      const [, type = '', perms = '', owner = '', size = '', time = '', rest = ''] = m;
      const sep = type === 'l' ? ' -> ' : type === 'h' ? ' link to ' : undefined;
      const [path = '', target] = sep ? rest.split(sep) : [rest];
      const mtime = Date.parse(`${time.replace(' ', 'T')}Z`) / 1000;
      const entry: Listed = { path, type, mode: parsePerms(perms), owner, size: Number(size), mtime };
      return target === undefined ? entry : { ...entry, target };
    });
}

const NODE_TYPES: Record<string, string> = { File: '-', Directory: 'd', SymbolicLink: 'l', Link: 'h' };

export async function nodeList(tarFile: string): Promise<Listed[]> {
  const seen: Listed[] = [];
  await listTar({
    file: tarFile,
    strict: true,
    onReadEntry: (e) => {
      const entry: Listed = {
        path: e.path,
        type: NODE_TYPES[e.type] ?? e.type,
        mode: e.mode ?? -1,
        owner: `${e.uid}/${e.gid}`,
        size: e.size,
        mtime: (e.mtime?.getTime() ?? NaN) / 1000,
      };
      seen.push(e.linkpath ? { ...entry, target: e.linkpath } : entry);
    },
  });
  return seen;
}

/** "rwsr-xr-t" -> 0o5755 */
function parsePerms(s: string): number {
  let mode = 0;
  for (let i = 0; i < 9; i++) {
    const c = s[i] ?? '-';
    if (c !== '-' && c !== 'S' && c !== 'T') mode |= 1 << (8 - i);
  }
  if (/[sS]/.test(s[2] ?? '')) mode |= 0o4000;
  if (/[sS]/.test(s[5] ?? '')) mode |= 0o2000;
  if (/[tT]/.test(s[8] ?? '')) mode |= 0o1000;
  return mode;
}

/** A stream of `size` bytes made lazily, so a test can pretend to have a huge file. */
export function zeros(size: number, chunk = 1 << 16): Readable {
  let left = size;
  return new Readable({
    read() {
      const n = Math.min(chunk, left);
      left -= n;
      this.push(n > 0 ? Buffer.alloc(n) : null);
    },
  });
}
