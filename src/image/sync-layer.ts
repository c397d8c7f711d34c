/** The entries of a sync step's layer (SPEC §2.1 `sync`): files from the container dir, placed in the image. */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Overlay, pathParts, type Inode, type Meta } from './overlay.ts';
import type { TarEntry } from './tar.ts';
import { scanTree } from './tree.ts';

export interface SyncItem {
  /** Absolute, on this machine. A file is read through symlinks; inside a folder they are kept. */
  src: string;
  isDir: boolean;
  /** Absolute, in the image: where the file goes, or the folder whose contents src becomes. */
  dest: string;
  /** chmod: files get exactly this; folders get it plus x wherever r is set. Absent: bits as on disk. */
  mode?: number;
  owner: { uid: number; gid: number };
}

/**
 * Tar entries for the items, applied in order (a later item wins at the same path): each item at
 * its dest, the dest's parent folders included as 0755 root:root, everything the item brings owned
 * by its owner, sorted bytewise. A sync step is one item and one layer; several are supported for
 * callers that fold steps together.
 */
export async function syncEntries(items: readonly SyncItem[]): Promise<TarEntry[]> {
  const overlay = new Overlay({ followSymlinks: false });
  for (const item of items) {
    if (!item.dest.startsWith('/'))
      throw new Error(`sync: dest ${JSON.stringify(item.dest)} must be absolute`);
    const dest = pathParts(item.dest, 'sync dest');
    const owner = { uid: item.owner.uid, gid: item.owner.gid };
    const fileMode = (bits: number): number => (item.mode ?? bits) & 0o7777;
    const dirMode = (bits: number): number =>
      (item.mode === undefined ? bits : searchable(item.mode)) & 0o7777;
    const top = await stat(item.src);

    if (!item.isDir) {
      if (!top.isFile()) throw new Error(`sync: ${item.src} is not a regular file`);
      if (dest.length === 0) throw new Error(`sync: a file cannot be synced to "/"`);
      overlay.addLeaf(dest, fileInode(item.src, top.size, { mode: fileMode(top.mode), ...owner }));
      continue;
    }
    if (!top.isDirectory()) throw new Error(`sync: ${item.src} is not a folder`);
    // "/" as dest: the folder's contents become the image's top level; the root itself has no entry.
    if (dest.length > 0) overlay.addDir(dest, { mode: dirMode(top.mode), ...owner });
    const inodes = new Map<string, Inode>();
    for (const entry of await scanTree(item.src, { normalizeModes: false })) {
      const at = [...dest, ...entry.path.split('/')];
      switch (entry.type) {
        case 'dir':
          overlay.addDir(at, { mode: dirMode(entry.mode), ...owner });
          break;
        case 'file': {
          const inode: Inode = {
            type: 'file',
            size: entry.size,
            open: entry.open,
            mode: fileMode(entry.mode),
            ...owner,
          };
          inodes.set(entry.path, inode);
          overlay.addLeaf(at, inode);
          break;
        }
        case 'symlink': {
          const inode: Inode = { type: 'symlink', target: entry.target, mode: entry.mode, ...owner };
          inodes.set(entry.path, inode);
          overlay.addLeaf(at, inode);
          break;
        }
        case 'hardlink': {
          // scanTree names the first path of the inode; share the very same inode object.
          const inode = inodes.get(entry.target);
          if (!inode)
            throw new Error(`sync: ${item.src}/${entry.path}: hardlink to an unknown ${entry.target}`);
          overlay.addLeaf(at, inode);
          break;
        }
      }
    }
  }
  return overlay.entries({ implicitDirs: true });
}

/** `chmod a+X`-like for folders: whoever may read may also enter. */
function searchable(mode: number): number {
  return mode | ((mode & 0o444) >> 2);
}

function fileInode(src: string, size: number, meta: Meta): Inode {
  return { type: 'file', size, open: () => createReadStream(src), ...meta };
}
