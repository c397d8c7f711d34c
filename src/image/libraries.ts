/**
 * The shared libraries a package provides (DT_SONAME) and needs (DT_NEEDED), so that image
 * assembly can name each library an image needs and nothing in it provides. Read from the
 * installed tree when the package is built, or from its artifact for a record that has no
 * inventory. Either way each ELF file is read by readElf, whose answer for a malformed file is
 * "not ELF": a broken file is no library, and not this check's to report.
 */
import { constants, createWriteStream, type Dirent } from 'node:fs';
import { open, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadEntry } from 'tar';
import { BuilditError } from '../errors.ts';
import { normalizePath } from './artifact-diff.ts';
import { readElf, readElfHandle, type ElfInfo } from './elf.ts';
import { readTarGz } from './tar-read.ts';

export interface LibraryInventory {
  /** Shared objects with a DT_SONAME: the soname and the file's path in the image ('/usr/lib/libgreet.so.1.0'). */
  provides: { soname: string; path: string }[];
  /** Each DT_NEEDED of each ELF file: the needing file's image path and the library name. */
  needs: { path: string; library: string }[];
}

const ELF_MAGIC = Buffer.from('\x7fELF', 'latin1');
/** Files of a tree read at once. */
const PARALLEL_READS = 16;

/**
 * Inventory of an installed tree (a package's DESTDIR): every regular file starting with \x7fELF.
 * Paths are image paths ('/' + relative, posix). Sorted bytewise by path, then soname/library,
 * deterministic. Symlinks are not followed.
 */
export async function inventoryTree(root: string): Promise<LibraryInventory> {
  const files: string[] = [];
  const folders = [''];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    const children: Dirent<Buffer>[] = await readdir(path.join(root, folder), {
      withFileTypes: true,
      encoding: 'buffer',
    });
    for (const child of children) {
      const rel = `${folder}${decodeName(child.name, path.join(root, folder))}`;
      if (child.isDirectory()) folders.push(`${rel}/`);
      else if (child.isFile()) files.push(rel);
    }
  }
  // Several files at once: /usr of a Debian system (130,000 files) took 48 s one at a time, 11 s so.
  const found = new Map<string, ElfInfo>();
  const next = files[Symbol.iterator]();
  const worker = async (): Promise<void> => {
    for (const rel of next) {
      const info = await readTreeFile(path.join(root, rel));
      if (info) found.set(`/${rel}`, info);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL_READS }, worker));
  return inventory(found);
}

/**
 * The same for a package artifact (a gzip'd tar), streamed: memory holds a chunk or two of it and
 * the answer. ELF file entries are spooled into `scratchDir` (a folder the caller owns) one at a
 * time, read with readElf, and deleted. Member names ('usr/lib/x', './usr/lib/x') become image
 * paths ('/usr/lib/x'); a hardlink to an ELF file counts as the file, as it does in a tree.
 * A member name is only a name here, never a place on disk: spool files are named by a counter.
 * A damaged artifact (gzip or tar) is a BuilditError BUILDIT_ARTIFACT_CORRUPT.
 */
export async function inventoryArtifact(
  open: () => NodeJS.ReadableStream,
  scratchDir: string,
): Promise<LibraryInventory> {
  const found = new Map<string, ElfInfo>();
  let spooled = 0;
  let ours: unknown; // a failure of the scratch disk, not of the artifact
  try {
    await readTarGz(readable(open()), 'package artifact', async (entry) => {
      const at = normalizePath(entry.path);
      // A later entry at a path replaces the earlier one, as when the artifact is unpacked.
      found.delete(at);
      if (entry.type === 'Link') {
        const target = found.get(normalizePath(entry.linkpath ?? ''));
        if (target) found.set(at, target);
      } else if (entry.type === 'File' || entry.type === 'OldFile' || entry.type === 'ContiguousFile') {
        try {
          const info = await spoolElf(entry, path.join(scratchDir, `elf-${spooled++}`));
          if (info) found.set(at, info);
        } catch (error) {
          ours = error;
          throw error;
        }
      }
    });
  } catch (error) {
    if (error === ours || isSystemError((error as Error).cause)) throw error;
    const message = error instanceof Error ? error.message : String(error);
    throw new BuilditError('BUILDIT_ARTIFACT_CORRUPT', message, {
      cause: error,
      exitCode: 1,
      hint: 'the artifact is truncated or damaged; `buildit verify` checks the store',
    });
  }
  return inventory(found);
}

/**
 * Needs that nothing provides: `provided` is a set of sonames available in the image.
 * Deduplicated, sorted by path then library. Pure.
 */
export function missingLibraries(
  needs: readonly { path: string; library: string }[],
  provided: ReadonlySet<string>,
): { path: string; library: string }[] {
  const missing = new Map<string, { path: string; library: string }>();
  for (const { path, library } of needs) {
    if (!provided.has(library)) missing.set(JSON.stringify([path, library]), { path, library });
  }
  return [...missing.values()].sort(
    (a, b) => compareBytes(a.path, b.path) || compareBytes(a.library, b.library),
  );
}

/** The inventory of what was found, by image path; each file's needs sorted and deduplicated. */
function inventory(found: ReadonlyMap<string, ElfInfo>): LibraryInventory {
  const result: LibraryInventory = { provides: [], needs: [] };
  for (const at of [...found.keys()].sort(compareBytes)) {
    const info = found.get(at)!;
    if (info.soname !== undefined) result.provides.push({ soname: info.soname, path: at });
    for (const library of [...new Set(info.needed)].sort(compareBytes))
      result.needs.push({ path: at, library });
  }
  return result;
}

/**
 * O_NOFOLLOW: a file swapped for a symlink after the listing must not pull in a file from outside
 * the tree; O_NONBLOCK: nor may one swapped for a FIFO hang the read (readElf refuses both).
 */
async function readTreeFile(file: string): Promise<ElfInfo | undefined> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    return await readElfHandle(handle);
  } finally {
    await handle.close();
  }
}

/**
 * The entry's body into `file` when it starts with the ELF magic, read there and removed; any
 * other body is left to readTarGz, which skips it. The spool is a file because readElf reads by
 * offset, and the regions it needs can lie anywhere in a file of any size.
 */
async function spoolElf(entry: ReadEntry, file: string): Promise<ElfInfo | undefined> {
  const chunks: AsyncIterator<Buffer> = entry[Symbol.asyncIterator]();
  let head = Buffer.alloc(0);
  while (head.length < ELF_MAGIC.length) {
    const next = await chunks.next();
    if (next.done) return undefined;
    head = Buffer.concat([head, next.value]);
  }
  if (!head.subarray(0, ELF_MAGIC.length).equals(ELF_MAGIC)) return undefined;
  async function* body(): AsyncGenerator<Buffer> {
    yield head;
    for (let next = await chunks.next(); !next.done; next = await chunks.next()) yield next.value;
  }
  try {
    await pipeline(Readable.from(body()), createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    return await readElf(file);
  } finally {
    await rm(file, { force: true });
  }
}

function readable(stream: NodeJS.ReadableStream): Readable {
  return stream instanceof Readable ? stream : new Readable().wrap(stream);
}

/** An fs error (ENOENT, EIO) reading the artifact: a problem of the disk, not of the artifact. */
function isSystemError(error: unknown): boolean {
  return error instanceof Error && typeof (error as NodeJS.ErrnoException).syscall === 'string';
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Image paths are strings; a name that is not UTF-8 could not be named faithfully (nor packed, see tree.ts). */
function decodeName(raw: Buffer, folder: string): string {
  try {
    return utf8.decode(raw);
  } catch {
    throw new BuilditError(
      'BUILDIT_LIBRARIES_NAME',
      `a name in ${folder} is not valid UTF-8: ${JSON.stringify(raw.toString('latin1'))}`,
      { exitCode: 1, hint: 'rename the file in the recipe’s install step' },
    );
  }
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
