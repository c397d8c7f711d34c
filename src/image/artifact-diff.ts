/**
 * What differs between two artifacts (gzip'd tars): `buildit verify --rebuild` names the paths of a
 * package whose rebuild is not byte-identical, and what about each changed. Both archives stream
 * side by side and file contents are hashed as they pass, so memory holds an index of entry
 * metadata, never a file body. The archives may come from a binhost: they are only read, and a
 * path is a name here, never a place on disk.
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ReadEntry } from 'tar';
import { readTarGz } from './tar-read.ts';

/** One entry as the comparison sees it. */
export interface EntryFacts {
  type: 'file' | 'dir' | 'symlink' | 'hardlink';
  /** Permission bits, setuid/setgid/sticky included. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Symlink or hardlink target. */
  linkname: string;
  /** Seconds since the epoch. */
  mtime: number;
  /** sha256 hex of a file's content ('' for anything else). */
  sha256: string;
}

export interface ArtifactIndex {
  /** By normalized path ('/usr/bin/hello'; '/' for the root entry). */
  entries: Map<string, EntryFacts>;
  /** Normalized paths in archive order (a path repeated counts each time). */
  order: string[];
}

export interface PathDifference {
  path: string;
  /** e.g. "content", "mode 0755 → 0644", "only in the rebuild". */
  what: string;
}

export interface ArtifactDiff {
  /** Sorted bytewise by path. */
  paths: PathDifference[];
  /** Same entries, in another order. */
  orderDiffers: boolean;
  /** No difference at all between the entries: whatever differs is below them (headers, compression). */
  sameEntries: boolean;
}

export interface DiffSide {
  /** How a difference names this side: "baseline", "rebuild". */
  name: string;
  /** For error messages: "artifact sha256:… (store)". */
  what: string;
  open(): Readable;
}

/** Compare two artifacts entry by entry, reading both at once. */
export async function diffArtifacts(before: DiffSide, after: DiffSide): Promise<ArtifactDiff> {
  const [a, b] = await Promise.all([
    indexArtifact(before.open(), before.what),
    indexArtifact(after.open(), after.what),
  ]);
  const paths: PathDifference[] = [];
  for (const [path, old] of a.entries) {
    const now = b.entries.get(path);
    if (!now) paths.push({ path, what: `only in the ${before.name}` });
    else {
      const changes = describeChanges(old, now);
      if (changes.length > 0) paths.push({ path, what: changes.join(', ') });
    }
  }
  for (const path of b.entries.keys())
    if (!a.entries.has(path)) paths.push({ path, what: `only in the ${after.name}` });
  paths.sort((x, y) => compareBytes(x.path, y.path));
  const orderDiffers = a.order.length !== b.order.length || a.order.some((p, i) => p !== b.order[i]);
  return { paths, orderDiffers, sameEntries: paths.length === 0 && !orderDiffers };
}

/** Every entry's facts, file contents hashed while the archive streams. */
export async function indexArtifact(source: Readable, what: string): Promise<ArtifactIndex> {
  const entries = new Map<string, EntryFacts>();
  const order: string[] = [];
  await readTarGz(source, what, async (entry) => {
    const path = normalizePath(entry.path);
    const type = entryType(entry, what);
    let sha256 = '';
    if (type === 'file') {
      const hash = createHash('sha256');
      for await (const chunk of entry) hash.update(chunk as Buffer);
      sha256 = hash.digest('hex');
    }
    order.push(path);
    // A repeated path: the later entry wins, as it does when the layer is unpacked.
    entries.set(path, {
      type,
      mode: (entry.mode ?? 0) & 0o7777,
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      size: type === 'file' ? (entry.size ?? 0) : 0,
      linkname: type === 'symlink' || type === 'hardlink' ? (entry.linkpath ?? '') : '',
      mtime: entry.mtime ? Math.floor(entry.mtime.getTime() / 1000) : 0,
      sha256,
    });
  });
  return { entries, order };
}

/** What changed from `a` to `b`, each as a short phrase; empty when nothing did. */
export function describeChanges(a: EntryFacts, b: EntryFacts): string[] {
  if (a.type !== b.type) return [`type ${a.type} → ${b.type}`];
  const changes: string[] = [];
  if (a.type === 'file' && (a.sha256 !== b.sha256 || a.size !== b.size)) changes.push('content');
  if (a.linkname !== b.linkname) changes.push(`${a.type} target ${a.linkname} → ${b.linkname}`);
  if (a.mode !== b.mode) changes.push(`mode ${octal(a.mode)} → ${octal(b.mode)}`);
  if (a.uid !== b.uid || a.gid !== b.gid) changes.push(`owner ${a.uid}:${a.gid} → ${b.uid}:${b.gid}`);
  if (a.mtime !== b.mtime) changes.push(`mtime ${a.mtime} → ${b.mtime}`);
  return changes;
}

/** 'usr/bin/x', './usr/bin/x' and '/usr/bin/x/' all name '/usr/bin/x'. */
export function normalizePath(name: string): string {
  const parts = name.split('/').filter((part) => part !== '' && part !== '.');
  return `/${parts.join('/')}`;
}

function entryType(entry: ReadEntry, what: string): EntryFacts['type'] {
  switch (entry.type) {
    case 'File':
    case 'OldFile':
    case 'ContiguousFile':
      return 'file';
    case 'Directory':
    case 'GNUDumpDir':
      return 'dir';
    case 'SymbolicLink':
      return 'symlink';
    case 'Link':
      return 'hardlink';
    default:
      // Artifacts never hold device nodes or FIFOs (SPEC §6): such an archive is no artifact.
      throw new Error(`${what}: ${entry.path}: unexpected ${entry.type} entry in an artifact`);
  }
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function compareBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
