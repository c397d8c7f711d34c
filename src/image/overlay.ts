import type { Readable } from 'node:stream';
import type { TarEntry } from './tar.ts';

export interface Meta {
  mode: number;
  uid: number;
  gid: number;
}

/** What a non-folder path holds. Hardlinked paths share one inode object. */
export type Inode =
  | (Meta & { type: 'file'; size: number; open: () => NodeJS.ReadableStream | Readable })
  | (Meta & { type: 'symlink'; target: string });

interface Dir {
  kind: 'dir';
  meta: Meta;
  /** Made only to hold a child, not named by any input. */
  implicit: boolean;
  children: Map<string, Node>;
}
type Node = Dir | { kind: 'leaf'; inode: Inode };

export interface OverlayOptions {
  /**
   * Resolve symlinks met among a path's folders, within the root, the way a runtime unpacking
   * layers onto one filesystem does (a layer's `lib/x` over an earlier `lib -> usr/lib` lands in
   * `usr/lib/x`). Off, such a path is an error.
   */
  followSymlinks: boolean;
}

export const IMPLICIT_DIR: Readonly<Meta> = { mode: 0o755, uid: 0, gid: 0 };
const MAX_HOPS = 40; // Linux's MAXSYMLINKS

/**
 * A filesystem tree in memory, holding metadata only (file contents stay behind `open()`), onto
 * which entries are applied in order with unpacking semantics: a later entry replaces an earlier
 * one at the same path, a non-folder replacing a folder takes its whole subtree away, a folder over
 * a folder only updates its metadata, and missing parent folders are made (0755, owned by root).
 * `entries()` lists the result the way tarStream wants it: sorted bytewise, each inode once as a
 * file or symlink at its first path and as hardlinks at the others.
 *
 * Paths are arrays of already validated components (no "", ".", ".."); [] is the root.
 */
export class Overlay {
  readonly root: Dir = { kind: 'dir', meta: { ...IMPLICIT_DIR }, implicit: true, children: new Map() };
  readonly #options: OverlayOptions;

  constructor(options: OverlayOptions) {
    this.#options = options;
  }

  addDir(path: readonly string[], meta: Meta): void {
    if (path.length === 0) {
      this.root.meta = { ...meta };
      this.root.implicit = false;
      return;
    }
    const { dir, name } = this.#walk(path, true)!;
    const old = dir.children.get(name);
    if (old?.kind === 'dir') {
      old.meta = { ...meta };
      old.implicit = false;
      return;
    }
    dir.children.set(name, { kind: 'dir', meta: { ...meta }, implicit: false, children: new Map() });
  }

  addLeaf(path: readonly string[], inode: Inode): void {
    if (path.length === 0) throw new Error(`the root folder cannot be replaced by a ${inode.type}`);
    const { dir, name } = this.#walk(path, true)!;
    dir.children.set(name, { kind: 'leaf', inode });
  }

  /** A hardlink: `path` shares whatever inode `target` holds now. */
  link(path: readonly string[], target: readonly string[]): void {
    const found = target.length === 0 ? undefined : this.#walk(target, false);
    const node = found?.dir.children.get(found.name);
    if (node?.kind !== 'leaf') {
      throw new Error(`hardlink ${path.join('/')}: its target ${target.join('/')} is not an earlier file`);
    }
    this.addLeaf(path, node.inode);
  }

  /** Takes `path` and everything below it away (a whiteout); a missing path is fine. */
  remove(path: readonly string[]): void {
    if (path.length === 0) return this.clear(path);
    const found = this.#walk(path, false);
    found?.dir.children.delete(found.name);
  }

  /** Takes everything below folder `path` away, keeping the folder (an opaque whiteout). */
  clear(path: readonly string[]): void {
    let dir: Node | undefined = this.root;
    if (path.length > 0) {
      const found = this.#walk(path, false);
      dir = found?.dir.children.get(found.name);
    }
    if (dir?.kind === 'dir') dir.children.clear();
  }

  /** Every path but the root, sorted bytewise; implicit folders only when asked for. */
  entries(options: { implicitDirs: boolean }): TarEntry[] {
    const found: { path: string; key: Buffer; node: Node }[] = [];
    const visit = (dir: Dir, prefix: string): void => {
      for (const [name, node] of dir.children) {
        const path = prefix === '' ? name : `${prefix}/${name}`;
        found.push({ path, key: Buffer.from(path, 'utf8'), node });
        if (node.kind === 'dir') visit(node, path);
      }
    };
    visit(this.root, '');
    found.sort((a, b) => Buffer.compare(a.key, b.key));

    const firstPath = new Map<Inode, string>();
    const out: TarEntry[] = [];
    for (const { path, node } of found) {
      if (node.kind === 'dir') {
        if (!node.implicit || options.implicitDirs) out.push({ path, type: 'dir', ...node.meta });
        continue;
      }
      const { inode } = node;
      const meta = { mode: inode.mode, uid: inode.uid, gid: inode.gid };
      const target = firstPath.get(inode);
      if (target !== undefined) {
        out.push({ path, type: 'hardlink', target, ...meta });
      } else {
        firstPath.set(inode, path);
        out.push(
          inode.type === 'file'
            ? { path, type: 'file', size: inode.size, open: inode.open, ...meta }
            : { path, type: 'symlink', target: inode.target, ...meta },
        );
      }
    }
    return out;
  }

  /**
   * The folder that holds `path`'s last component, after resolving symlinks among its folders
   * when allowed. `create` makes missing folders; without it, a missing one gives undefined.
   */
  #walk(path: readonly string[], create: boolean): { dir: Dir; name: string } | undefined {
    let parts = [...path];
    let hops = 0;
    let dir = this.root;
    let i = 0;
    while (i < parts.length - 1) {
      const name = parts[i]!;
      let node = dir.children.get(name);
      if (!node) {
        if (!create) return undefined;
        node = { kind: 'dir', meta: { ...IMPLICIT_DIR }, implicit: true, children: new Map() };
        dir.children.set(name, node);
      }
      if (node.kind === 'dir') {
        dir = node;
        i++;
        continue;
      }
      const here = parts.slice(0, i + 1).join('/');
      if (node.inode.type !== 'symlink' || !this.#options.followSymlinks) {
        throw new Error(`${path.join('/')}: ${here} is a ${node.inode.type}, not a folder`);
      }
      if (++hops > MAX_HOPS) throw new Error(`${path.join('/')}: too many levels of symbolic links`);
      const target = node.inode.target;
      const base = target.startsWith('/') ? [] : parts.slice(0, i);
      parts = resolveDots([...base, ...target.split('/'), ...parts.slice(i + 1)]);
      dir = this.root;
      i = 0;
    }
    return { dir, name: parts[parts.length - 1]! };
  }
}

/** Components with "", "." dropped and ".." applied; ".." at the root stays at the root, as in a chroot. */
function resolveDots(parts: readonly string[]): string[] {
  const out: string[] = [];
  for (const part of parts) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

/**
 * A path as found in an archive or a config, as components: leading "/" and "./" and trailing "/"
 * ignored, "." dropped. ".." is refused rather than resolved, because an archive entry that climbs
 * is an attack or a broken packer, never something to follow.
 */
export function pathParts(path: string, what: string): string[] {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new Error(`${what}: path ${JSON.stringify(path)} climbs out with ".."`);
  if (path.includes('\0')) throw new Error(`${what}: path ${JSON.stringify(path)} contains a NUL byte`);
  return parts;
}
