/**
 * The first step of `buildit gc`: read the store into an inventory — roots,
 * build markers, records, blobs, logs, locks, and what killed runs left
 * behind (tmp/ entries, interrupted atomic writes, locks moved aside). Nothing
 * here decides or removes: gc-plan.ts decides what goes, gc.ts removes it.
 */
import { lstat, readFile } from 'node:fs/promises';
import path from 'node:path';
import { memoIsOrphan } from '../image/reuse.ts';
import { isNotFound, readdirIfExists } from '../util/fs.ts';
import { ATOMIC_NAME } from '../util/atomic.ts';
import { ownerGone } from '../util/owner.ts';
import { STALE_NAME } from './lock.ts';
import {
  gcLockFile,
  lockState,
  readActive,
  readRoots,
  type ActiveBuild,
  type Root,
  type StoredFile,
} from './roots.ts';
import { TMP_NAME, type LocalStore } from './store.ts';

export interface StoreInventory {
  roots: (StoredFile & { root?: Root })[];
  active: ActiveBuild[];
  /** `key` is `<os>-<arch>/<id>`, as a root or marker names the package. */
  records: (StoredFile & { key: string; id: string; name?: string; artifact?: string })[];
  blobs: (StoredFile & { hex: string })[];
  logs: (StoredFile & { id: string })[];
  /** Locks other than gc's own; `id` for identity locks. */
  locks: (StoredFile & { id?: string; state: 'held' | 'stale' })[];
  /** tmp/ entries and `.tmp-*` files of interrupted atomic writes; `live` while their process runs. */
  scratch: (StoredFile & { live: boolean })[];
  /** `cache/images/` records of outputs that are gone (image/reuse.ts). */
  orphanMemos: StoredFile[];
}

/** Everything gc decides about, read from the store as it is now. */
export async function scanStore(store: LocalStore): Promise<StoreInventory> {
  const root = store.root;
  const scratch: StoreInventory['scratch'] = [];
  const records: StoreInventory['records'] = [];
  for (const platform of await readdirIfExists(path.join(root, 'packages')))
    for (const fan of await readdirIfExists(path.join(root, 'packages', platform)))
      for (const name of await readdirIfExists(path.join(root, 'packages', platform, fan))) {
        const file = path.join(root, 'packages', platform, fan, name);
        const id = /^([0-9a-f]{64})\.json$/.exec(name)?.[1];
        if (id) {
          const record = await readRecordFile(file);
          if (record) records.push({ ...record, key: `${platform}/${id}`, id });
        } else await addInterruptedWrite(scratch, file);
      }

  const blobs: StoreInventory['blobs'] = [];
  for (const fan of await readdirIfExists(path.join(root, 'blobs', 'sha256')))
    for (const hex of await readdirIfExists(path.join(root, 'blobs', 'sha256', fan))) {
      const file = await fileInfo(path.join(root, 'blobs', 'sha256', fan, hex));
      if (file && /^[0-9a-f]{64}$/.test(hex)) blobs.push({ ...file, hex });
    }

  const logs: StoreInventory['logs'] = [];
  for (const fan of await readdirIfExists(path.join(root, 'logs')))
    for (const name of await readdirIfExists(path.join(root, 'logs', fan))) {
      const id = /^([0-9a-f]{64})\.log$/.exec(name)?.[1];
      const file = id && (await fileInfo(path.join(root, 'logs', fan, name)));
      if (id && file) logs.push({ ...file, id });
    }

  const locks: StoreInventory['locks'] = [];
  for (const name of await readdirIfExists(path.join(root, 'locks'))) {
    const file = path.join(root, 'locks', name);
    const aside = STALE_NAME.exec(name);
    if (aside) {
      // A takeover in lock.ts moves the stale lock aside first: a leftover if its mover died there.
      await addLeftover(scratch, file, aside);
      continue;
    }
    if (!name.endsWith('.lock') || file === gcLockFile(store)) continue;
    const [state, info] = await Promise.all([lockState(file), fileInfo(file)]);
    if (state === 'free' || !info) continue;
    const id = /^([0-9a-f]{64})\.lock$/.exec(name)?.[1];
    locks.push({ ...info, state, ...(id ? { id } : {}) });
  }

  for (const name of await readdirIfExists(path.join(root, 'tmp'))) {
    const owner = TMP_NAME.exec(name);
    if (owner) await addLeftover(scratch, path.join(root, 'tmp', name), owner);
  }
  for (const name of await readdirIfExists(path.join(root, 'active')))
    await addInterruptedWrite(scratch, path.join(root, 'active', name));
  for (const name of await readdirIfExists(path.join(root, 'roots'))) {
    await addInterruptedWrite(scratch, path.join(root, 'roots', name));
    for (const inner of await readdirIfExists(path.join(root, 'roots', name)))
      await addInterruptedWrite(scratch, path.join(root, 'roots', name, inner));
  }

  const orphanMemos: StoredFile[] = [];
  const memos = path.join(root, 'cache', 'images');
  for (const name of await readdirIfExists(memos)) {
    const file = path.join(memos, name);
    if (/^[0-9a-f]{64}\.json$/.test(name) && (await memoIsOrphan(file))) {
      const info = await fileInfo(file);
      if (info) orphanMemos.push(info);
    } else await addInterruptedWrite(scratch, file);
  }

  return {
    roots: await readRoots(store),
    active: await readActive(store),
    records,
    blobs,
    logs,
    locks,
    scratch,
    orphanMemos,
  };
}

/** util/atomic.ts writes `.tmp-<name>-<owner>-<random>` beside the file: left behind when killed. */
async function addInterruptedWrite(scratch: StoreInventory['scratch'], file: string): Promise<void> {
  const owner = ATOMIC_NAME.exec(path.basename(file));
  if (owner) await addLeftover(scratch, file, owner);
}

/** What an owner (a match of OWNER_PATTERN) left, or is still writing (`live`); nothing when it is gone already. */
async function addLeftover(
  scratch: StoreInventory['scratch'],
  file: string,
  owner: RegExpExecArray,
): Promise<void> {
  const info = await fileInfo(file);
  if (info) scratch.push({ ...info, live: !ownerGone(owner[1], owner[2]) });
}

async function readRecordFile(
  file: string,
): Promise<(StoredFile & { name?: string; artifact?: string }) | undefined> {
  const info = await fileInfo(file);
  if (!info) return undefined;
  let record: { name?: unknown; version?: unknown; artifact?: { digest?: unknown } } | undefined;
  try {
    record = JSON.parse(await readFile(file, 'utf8')) as typeof record;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    if (!(error instanceof SyntaxError)) throw error;
  }
  // A record that does not parse names no blob (and the store treats it as absent).
  const digest = record?.artifact?.digest;
  const artifact = typeof digest === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(digest)?.[1] : undefined;
  const name =
    typeof record?.name === 'string' && typeof record.version === 'string'
      ? `${record.name}-${record.version}`
      : undefined;
  return { ...info, ...(name ? { name } : {}), ...(artifact ? { artifact } : {}) };
}

/** Size (of everything below, for a folder) and mtime; undefined when it is gone. */
async function fileInfo(file: string): Promise<StoredFile | undefined> {
  let info;
  try {
    info = await lstat(file);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  let bytes = info.size;
  if (info.isDirectory()) {
    bytes = 0;
    for (const name of await readdirIfExists(file))
      bytes += (await fileInfo(path.join(file, name)))?.bytes ?? 0;
  }
  return { path: file, bytes, mtimeMs: info.mtimeMs };
}
