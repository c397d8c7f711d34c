import { createHash } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { tarStream, type TarEntry } from './tar.ts';

export interface ScanOptions {
  /**
   * true: files 0644 (0755 when owner-executable), folders 0755, symlinks 0777, so that umask and
   * checkout differences do not change a source folder's identity.
   * false: permission bits exactly as on disk, setuid/setgid/sticky included (artifacts).
   */
  normalizeModes: boolean;
}

interface Found {
  path: string;
  key: Buffer; // the UTF-8 path, the sort key
  full: string;
  stat: BigIntStats;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Lists everything under `root` (not `root` itself) as tar entries, sorted bytewise by path so the
 * order never depends on the filesystem or the locale. Symlinks are recorded, never followed.
 * Files that share an inode become one 'file' entry (the first path in order) and 'hardlink's.
 */
export async function scanTree(root: string, options: ScanOptions): Promise<TarEntry[]> {
  const found: Found[] = [];
  await walk(root, '', found);
  found.sort((a, b) => Buffer.compare(a.key, b.key));

  const firstPathOfInode = new Map<string, string>();
  const entries: TarEntry[] = [];
  for (const { path, full, stat } of found) {
    const perm = Number(stat.mode & 0o7777n);
    if (stat.isDirectory()) {
      entries.push({ path, type: 'dir', mode: options.normalizeModes ? 0o755 : perm });
      continue;
    }
    if (stat.nlink > 1n) {
      const inode = `${stat.dev}:${stat.ino}`;
      const target = firstPathOfInode.get(inode);
      if (target !== undefined) {
        const mode = options.normalizeModes ? normalMode(stat, perm) : perm;
        entries.push({ path, type: 'hardlink', mode, target });
        continue;
      }
      firstPathOfInode.set(inode, path);
    }
    if (stat.isSymbolicLink()) {
      const target = decode(await readlink(full, { encoding: 'buffer' }), `symlink target of ${full}`);
      entries.push({ path, type: 'symlink', mode: options.normalizeModes ? 0o777 : perm, target });
    } else {
      const mode = options.normalizeModes ? normalMode(stat, perm) : perm;
      entries.push({ path, type: 'file', mode, size: Number(stat.size), open: () => openNoFollow(full) });
    }
  }
  return entries;
}

/** The sha256 of the tree's normalized tar, the identity of a folder source. Streamed, never buffered. */
export async function treeDigest(root: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of tarStream(await scanTree(root, { normalizeModes: true }), { mtime: 0 })) {
    hash.update(chunk as Buffer);
  }
  return `sha256:${hash.digest('hex')}`;
}

async function walk(dir: string, prefix: string, out: Found[]): Promise<void> {
  // Names as bytes: a name that is not UTF-8 cannot be written faithfully, so it is an error
  // rather than a silent replacement character.
  const names = await readdir(dir, { encoding: 'buffer' });
  const children = await Promise.all(
    names.map(async (raw) => {
      const full = join(dir, raw.toString('utf8'));
      const name = decode(raw, `name of ${full}`);
      const path = prefix === '' ? name : `${prefix}/${name}`;
      const stat = await lstat(full, { bigint: true });
      checkType(stat, full);
      return { path, key: Buffer.from(path, 'utf8'), full, stat };
    }),
  );
  for (const child of children) {
    out.push(child);
    if (child.stat.isDirectory()) await walk(child.full, child.path, out);
  }
}

function checkType(stat: BigIntStats, full: string): void {
  if (stat.isFile() || stat.isDirectory() || stat.isSymbolicLink()) return;
  const kind = stat.isFIFO()
    ? 'FIFO'
    : stat.isSocket()
      ? 'socket'
      : stat.isCharacterDevice()
        ? 'character device'
        : stat.isBlockDevice()
          ? 'block device'
          : 'special file';
  throw new Error(`${full} is a ${kind}; only regular files, folders and symlinks can be packed`);
}

function normalMode(stat: BigIntStats, perm: number): number {
  return stat.isSymbolicLink() ? 0o777 : perm & 0o100 ? 0o755 : 0o644;
}

function decode(raw: Buffer, what: string): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw new Error(`the ${what} is not valid UTF-8: ${JSON.stringify(raw.toString('latin1'))}`);
  }
}

/**
 * O_NOFOLLOW: a file swapped for a symlink after the scan must not pull in bytes from outside root.
 * Opened only when the archive reaches the file, so a big tree never holds many descriptors.
 */
function openNoFollow(full: string): Readable {
  async function* read(): AsyncGenerator<Buffer> {
    const handle = await open(full, constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0));
    try {
      for await (const chunk of handle.createReadStream({ autoClose: false })) yield chunk as Buffer;
    } finally {
      await handle.close();
    }
  }
  return Readable.from(read(), { objectMode: false });
}
