/**
 * Source archives into a source folder, and folder sources copied as they are.
 *
 * Threat: an archive is untrusted input (a compromised upstream, a hostile
 * mirror before its sha256 was pinned). Each entry is checked in archive
 * order, before node-tar writes it, against a model of what the archive (and
 * whatever the folder already held) has made so far: no absolute paths, no
 * `..`, no device nodes or FIFOs, no links leading out, nothing written
 * through a symlink. node-tar's own protections stay on underneath, and any
 * warning it raises fails the unpack too: a tree is never half written in
 * silence.
 */
import { spawn } from 'node:child_process';
import { constants, createReadStream, lstatSync } from 'node:fs';
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  open,
  readdir,
  readlink,
  rm,
  rmdir,
  symlink,
  unlink,
} from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Unpack, type ReadEntry } from 'tar';
import { BuilditError } from '../errors.ts';
import { isNotFound } from '../util/fs.ts';

export type ArchiveFormat = 'tar' | 'gzip' | 'xz' | 'bzip2' | 'zstd';

/** Decompressors run as tools, streamed; gzip is zlib's. */
const TOOLS: Partial<Record<ArchiveFormat, { cmd: string; args: string[]; pkg: string }>> = {
  xz: { cmd: 'xz', args: ['-dc'], pkg: 'xz-utils' },
  bzip2: { cmd: 'bzip2', args: ['-dc'], pkg: 'bzip2' },
  zstd: { cmd: 'zstd', args: ['-dcq'], pkg: 'zstd' },
};

/**
 * The archive format from the file's first bytes: distfiles are stored by
 * hash, without a name to guess from. undefined: not an archive we unpack.
 */
export async function detectArchive(file: string): Promise<ArchiveFormat | undefined> {
  const head = Buffer.alloc(512);
  const handle = await open(file, 'r');
  let n: number;
  try {
    ({ bytesRead: n } = await handle.read(head, 0, 512, 0));
  } finally {
    await handle.close();
  }
  const starts = (...bytes: number[]): boolean => n >= bytes.length && bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  if (starts(0x42, 0x5a, 0x68) && n > 3 && head[3]! >= 0x31 && head[3]! <= 0x39) return 'bzip2';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (n === 512 && (head.toString('latin1', 257, 262) === 'ustar' || v7ChecksumValid(head))) return 'tar';
  return undefined;
}

/** A pre-POSIX (v7) header has no magic, only its checksum: the byte sum, counting the field as spaces. */
function v7ChecksumValid(block: Buffer): boolean {
  const field = block
    .toString('latin1', 148, 156)
    .replace(/[\0 ]+$/, '')
    .trim();
  if (block[0] === 0 || !/^[0-7]{1,7}$/.test(field)) return false;
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : block[i]!;
  return sum === parseInt(field, 8);
}

/**
 * Unpack `file` (a tar, plain or gzip/xz/bzip2/zstd-compressed) into `dest`,
 * dropping `strip` leading path components; entries with no more than that
 * are skipped. `label` names the archive in messages (a redacted URL, a path).
 */
export async function unpackArchive(file: string, dest: string, strip: number, label: string): Promise<void> {
  const format = await detectArchive(file);
  if (format === undefined) {
    throw new BuilditError('BUILDIT_UNPACK_FORMAT', `${label} is not a tar archive`, {
      exitCode: 1,
      hint: 'buildit unpacks tar, tar.gz, tar.xz, tar.bz2 and tar.zst, recognized by their contents',
    });
  }
  await mkdir(dest, { recursive: true });
  const guard = new ArchiveGuard(path.resolve(dest), strip, label);
  const unpack = new Unpack({
    cwd: dest,
    strip: 0, // the guard strips, so that what it checks is what gets written
    preserveOwner: false, // node-tar's default is true when running as root
    dmode: 0o755,
    fmode: 0o644,
    filter: (_path, entry) => guard.admit(entry as ReadEntry),
    onwarn: (code, message, data) => guard.warned(code, message, data),
  });

  // node-tar is only given plain tar: its own gunzip, on bad data, aborts
  // without ever saying when its pending writes are done.
  const tool = TOOLS[format];
  const decompressor = tool ? runTool(tool, path.resolve(file), label) : undefined;
  let source: Readable;
  if (decompressor) source = decompressor.stdout;
  else if (format === 'gzip') {
    const gunzip = createGunzip();
    createReadStream(file)
      .on('error', (error) => gunzip.destroy(error))
      .pipe(gunzip);
    source = gunzip;
  } else source = createReadStream(file);
  // node-tar emits 'close' once every entry is on disk, after an error too,
  // so the folder is never still being written when this returns.
  const closed = new Promise<void>((resolve) => unpack.on('close', () => resolve()));
  unpack.on('error', (error: Error) => guard.failed(error));
  source.on('error', (error) => {
    guard.failed(error);
    unpack.end();
  });
  let bytes = 0;
  source.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
  });
  source.pipe(unpack);
  const [, exit] = await Promise.all([closed, decompressor?.exit]);
  // node-tar lets a last partial block pass without a word.
  if (bytes % 512 !== 0) guard.failed(corrupt(label, 'it ends inside a 512-byte block (truncated)'));

  if (exit?.error) throw exit.error;
  // The tool's own words say more than node-tar's "truncated input"; a
  // refused entry found before the damage still wins.
  if (exit && exit.code !== 0 && (!guard.failure || guard.failure.code === 'BUILDIT_UNPACK_CORRUPT')) {
    throw corrupt(label, exit.stderr.trim() || `${tool!.cmd} exited with status ${exit.code}`);
  }
  if (guard.failure) throw guard.failure;
  await guard.finish();
}

function runTool(
  tool: { cmd: string; args: string[]; pkg: string },
  file: string,
  label: string,
): { stdout: Readable; exit: Promise<{ code: number | null; stderr: string; error?: unknown }> } {
  const child = spawn(tool.cmd, [...tool.args, file], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', LC_ALL: 'C' },
  });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    if (stderr.length < 4096) stderr += text;
  });
  const exit = new Promise<{ code: number | null; stderr: string; error?: unknown }>((resolve) => {
    child.once('error', (error) => {
      resolve({
        code: null,
        stderr,
        error: isNotFound(error)
          ? new BuilditError('BUILDIT_UNPACK_TOOL', `${tool.cmd} is needed to unpack ${label}`, {
              exitCode: 1,
              hint: `install it, e.g. apt-get install ${tool.pkg}`,
            })
          : error,
      });
    });
    child.once('close', (code) => resolve({ code, stderr }));
  });
  return { stdout: child.stdout, exit };
}

function corrupt(label: string, detail: string): BuilditError {
  return new BuilditError('BUILDIT_UNPACK_CORRUPT', `archive ${label} is corrupt: ${detail}`, {
    exitCode: 1,
    hint: 'a truncated or damaged file; if its sha256 matched, the recipe pins a broken file',
  });
}

function unsafe(label: string, entry: string, why: string): BuilditError {
  return new BuilditError(
    'BUILDIT_UNPACK_UNSAFE',
    `archive ${label}: refusing ${JSON.stringify(entry)}: ${why}`,
    {
      exitCode: 1,
      hint: 'the archive is hostile or broken; nothing was written outside the source folder',
    },
  );
}

/** What node-tar attaches to a warning (its WarnData, not exported). */
type WarnData = { code?: string; tarCode?: string; [k: string]: unknown };

type Kind = 'dir' | 'file' | 'symlink' | 'absent';

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const DIR_TYPES = new Set(['Directory', 'GNUDumpDir']);

/**
 * Decides, entry by entry and in order, what may be written. Paths here are
 * relative to dest, after stripping.
 */
class ArchiveGuard {
  failure: BuilditError | undefined;
  /** What each path is now, as this archive made it or as the folder held it before. */
  private readonly kinds = new Map<string, Kind>();
  /** Permission bits set once all is written: node-tar's pass through the process umask. */
  private readonly modes = new Map<string, number>();
  /**
   * Symlinks are made last (as GNU tar does for safety), by path, the last
   * entry winning: while node-tar writes, no archive symlink exists to be
   * written through; and node-tar, which refuses a symlink to a symlink, never
   * sees them.
   */
  private readonly symlinks = new Map<string, { raw: string; target: string }>();

  constructor(
    private readonly dest: string,
    private readonly strip: number,
    private readonly label: string,
  ) {}

  /** node-tar's filter: false skips the entry. After a refusal every entry is skipped (the rest drains). */
  admit(entry: ReadEntry): boolean {
    if (this.failure) return false;
    try {
      return this.check(entry);
    } catch (error) {
      this.failed(error);
      return false;
    }
  }

  private check(entry: ReadEntry): boolean {
    const raw = entry.path;
    const refuse = (why: string): BuilditError => unsafe(this.label, raw, why);
    if (raw.includes('\0') || entry.linkpath?.includes('\0')) throw refuse('a NUL byte in a name');
    if (raw.startsWith('/')) throw refuse('an absolute path');
    const parts = raw.split('/').filter((p) => p !== '');
    if (parts.includes('..')) throw refuse("a '..' component");
    const type = entry.type;
    if (type === 'CharacterDevice' || type === 'BlockDevice') throw refuse('a device node');
    if (type === 'FIFO') throw refuse('a FIFO');
    if (!FILE_TYPES.has(type) && !DIR_TYPES.has(type) && type !== 'SymbolicLink' && type !== 'Link') {
      throw new BuilditError(
        'BUILDIT_UNPACK_UNSUPPORTED',
        `archive ${this.label}: ${JSON.stringify(raw)} is a ${type} entry, which buildit does not unpack`,
        { exitCode: 1 },
      );
    }
    // As GNU tar counts them: "./" is a component.
    const rel = parts.slice(this.strip).filter((p) => p !== '.');
    if (parts.length <= this.strip || rel.length === 0) return false;
    const where = rel.join('/');

    const created = this.parentsOf(rel, (prefix) =>
      refuse(`it would be written through the symlink ${JSON.stringify(prefix)}`),
    );

    if (type === 'SymbolicLink') {
      const target = entry.linkpath ?? '';
      if (target.startsWith('/')) throw refuse(`a symlink to the absolute path ${target}`);
      const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(where), target));
      if (resolved === '..' || resolved.startsWith('../')) throw refuse(`a symlink to ${target}, outside`);
      this.kinds.set(where, 'symlink');
      this.symlinks.delete(where); // re-inserted: made in the order of the last entries
      this.symlinks.set(where, { raw, target });
      this.modes.delete(where);
    } else if (type === 'Link') {
      const target = entry.linkpath ?? '';
      if (target.startsWith('/')) throw refuse(`a hardlink to the absolute path ${target}`);
      const tparts = target.split('/').filter((p) => p !== '');
      if (tparts.includes('..')) throw refuse(`a hardlink to ${target}, outside`);
      const trel = tparts.slice(this.strip).filter((p) => p !== '.');
      if (tparts.length <= this.strip || trel.length === 0) {
        throw refuse(`a hardlink to ${target}, outside what is unpacked`);
      }
      this.parentsOf(trel, (prefix) => refuse(`a hardlink through the symlink ${JSON.stringify(prefix)}`));
      // GNU tar writes a file archived twice as a link to itself; the file is already there.
      if (trel.join('/') === where) return false;
      // A hardlink to a symlink is a copy of it in another folder, where its
      // relative target may point elsewhere: refused rather than re-checked.
      const kind = this.kindOf(trel.join('/'));
      if (kind === 'symlink') throw refuse(`a hardlink to the symlink ${target}`);
      if (kind === 'dir') throw refuse(`a hardlink to the folder ${target}`);
      entry.linkpath = trel.join('/');
      this.kinds.set(where, 'file');
      this.modes.delete(where); // one inode: its mode is the target's
    } else {
      // setuid/setgid never come out of a source archive.
      const mode = (entry.mode ?? (DIR_TYPES.has(type) ? 0o755 : 0o644)) & 0o1777;
      entry.mode = DIR_TYPES.has(type) ? mode | 0o700 : mode;
      this.kinds.set(where, DIR_TYPES.has(type) ? 'dir' : 'file');
      this.modes.set(where, entry.mode);
    }
    for (const prefix of created) {
      this.kinds.set(prefix, 'dir');
      this.modes.set(prefix, 0o755);
    }
    entry.path = where;
    return type !== 'SymbolicLink';
  }

  /** Checks every parent folder of `rel`; returns those that do not exist yet (node-tar makes them). */
  private parentsOf(rel: string[], throughSymlink: (prefix: string) => BuilditError): string[] {
    const missing: string[] = [];
    for (let i = 1; i < rel.length; i++) {
      const prefix = rel.slice(0, i).join('/');
      const kind = this.kindOf(prefix);
      if (kind === 'symlink') throw throughSymlink(prefix);
      if (kind === 'absent') missing.push(prefix);
    }
    return missing;
  }

  /** The model's answer, else the folder's (as it was before this archive: it never wrote there). */
  private kindOf(rel: string): Kind {
    const known = this.kinds.get(rel);
    if (known) return known;
    let kind: Kind;
    try {
      const info = lstatSync(path.join(this.dest, rel));
      kind = info.isSymbolicLink() ? 'symlink' : info.isDirectory() ? 'dir' : 'file';
    } catch (error) {
      if (!isNotFound(error)) throw error;
      return 'absent';
    }
    this.kinds.set(rel, kind);
    return kind;
  }

  warned(code: string, message: string, data: WarnData): void {
    if (code === 'TAR_ENTRY_INFO') return;
    this.failed(Object.assign(new Error(message), data, { tarCode: code }));
  }

  /** The first failure is the one reported. */
  failed(error: unknown): void {
    if (this.failure) return;
    this.failure = error instanceof BuilditError ? error : this.classify(error);
  }

  private classify(error: unknown): BuilditError {
    const e = error as Error & WarnData & { entry?: ReadEntry };
    const name = e.entry?.path ?? (typeof e['path'] === 'string' ? e['path'] : undefined);
    if (e.code === 'TAR_SYMLINK_ERROR' || /'\.\.'|escape/.test(e.message)) {
      return unsafe(this.label, name ?? '?', e.message);
    }
    if (e.tarCode === 'TAR_ENTRY_UNSUPPORTED') {
      return new BuilditError('BUILDIT_UNPACK_UNSUPPORTED', `archive ${this.label}: ${e.message}`, {
        exitCode: 1,
      });
    }
    if (e.tarCode === 'TAR_ENTRY_ERROR' || (typeof e.code === 'string' && /^E[A-Z]+$/.test(e.code))) {
      return new BuilditError(
        'BUILDIT_UNPACK_IO',
        `archive ${this.label}: cannot unpack${name ? ` ${JSON.stringify(name)}` : ''}: ${e.message}`,
        { exitCode: 1, cause: error },
      );
    }
    return corrupt(this.label, e.message);
  }

  /**
   * After the last write: make the symlinks, then resolve each on disk, since
   * one may pass the lexical check and still lead out through others
   * (`a -> d/e`, `d/e/up -> ../..`, `l -> a/up/..`). Then set the modes.
   */
  async finish(): Promise<void> {
    const made: [string, string][] = [];
    for (const [where, { raw, target }] of this.symlinks) {
      if (this.kinds.get(where) !== 'symlink' || this.underSymlink(where)) continue;
      const full = path.join(this.dest, where);
      // Parents: checked free of symlinks when the entry came, and no symlink
      // of this archive has been made above them since (underSymlink).
      await mkdir(path.dirname(full), { recursive: true, mode: 0o755 });
      const there = await lstat(full).catch(() => undefined);
      try {
        if (there?.isDirectory()) await rmdir(full);
        else if (there) await unlink(full);
        await symlink(target, full);
      } catch (error) {
        throw new BuilditError(
          'BUILDIT_UNPACK_IO',
          `archive ${this.label}: cannot make the symlink ${JSON.stringify(raw)}: ${(error as Error).message}`,
          { exitCode: 1, cause: error },
        );
      }
      made.push([where, raw]);
    }
    for (const [where, raw] of made) {
      if (await leavesRoot(this.dest, where)) {
        throw unsafe(this.label, raw, 'a symlink that leads outside through other symlinks');
      }
    }
    for (const [where, mode] of this.modes) {
      if (this.underSymlink(where)) continue;
      const full = path.join(this.dest, where);
      const info = await lstat(full).catch(() => undefined);
      if (!info || info.isSymbolicLink() || info.isDirectory() !== (this.kinds.get(where) === 'dir'))
        continue;
      if ((info.mode & 0o7777) !== mode) await chmod(full, mode);
    }
  }

  private underSymlink(rel: string): boolean {
    for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) {
      if (this.kinds.get(rel.slice(0, i)) === 'symlink') return true;
    }
    return false;
  }
}

/** Resolve `rel` inside `root` as the kernel would, symlink by symlink: does it get out? */
async function leavesRoot(root: string, rel: string): Promise<boolean> {
  const at: string[] = [];
  let rest = rel.split('/');
  for (let hops = 0; rest.length > 0;) {
    const part = rest.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (at.length === 0) return true;
      at.pop();
      continue;
    }
    at.push(part);
    const full = path.join(root, ...at);
    const info = await lstat(full).catch(() => undefined);
    if (!info?.isSymbolicLink()) continue; // missing parts resolve lexically
    if (++hops > 40) return false; // a loop: ELOOP, no way out
    const target = await readlink(full);
    if (target.startsWith('/')) return true;
    at.pop();
    rest = [...target.split('/'), ...rest];
  }
  return false;
}

/**
 * Copy a folder source into `dest`: files, folders and symlinks (never
 * followed; copied as they read). Modes are those its identity hashes
 * (decisions.md): files 0644, or 0755 when the owner may execute; folders
 * 0755. Two checkouts with one identity so give one source tree, whatever
 * their umask. Whatever is in the way in `dest` is replaced, never followed.
 */
export async function copyTree(src: string, dest: string): Promise<void> {
  await mkdir(dest, { recursive: true });
  await copyChildren(src, dest);
}

async function copyChildren(from: string, to: string): Promise<void> {
  for (const name of (await readdir(from)).sort()) {
    const source = path.join(from, name);
    const target = path.join(to, name);
    const info = await lstat(source);
    const there = await lstat(target).catch((error: unknown) => {
      if (isNotFound(error)) return undefined;
      throw error;
    });
    const clear = async (): Promise<void> => {
      if (there) await rm(target, { recursive: true, force: true });
    };
    if (info.isDirectory()) {
      if (!there?.isDirectory()) {
        await clear();
        await mkdir(target, { mode: 0o700 });
      }
      await copyChildren(source, target);
      await chmod(target, 0o755);
    } else if (info.isSymbolicLink()) {
      await clear();
      await symlink(await readlink(source), target);
    } else if (info.isFile()) {
      await clear();
      await copyFile(source, target, constants.COPYFILE_EXCL);
      await chmod(target, info.mode & 0o100 ? 0o755 : 0o644);
    } else {
      throw new BuilditError(
        'BUILDIT_SOURCE_SPECIAL',
        `${source} is a FIFO, socket or device; a folder source holds only files, folders and symlinks`,
        { exitCode: 2, hint: 'remove it from the source folder' },
      );
    }
  }
}
