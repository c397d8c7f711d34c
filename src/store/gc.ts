/**
 * `buildit gc`: remove what no container built in the last --keep-days days
 * uses, and never what a running build holds (docs/gc.md tells how it decides).
 *
 * Read the store (scanStore), decide (planGc, pure), then remove in order:
 * roots, records (with their logs), blobs, then leftovers of killed runs. A
 * record never names a missing blob, and an interrupted gc leaves only
 * orphans that the next one removes. containers/ is never touched.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, readFile, readdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { BuilditError } from '../errors.ts';
import { isNotFound, statIfExists } from '../util/fs.ts';
import { isAlive } from '../util/process.ts';
import { BINHOST_MARKER } from './layout.ts';
import { acquireLock } from './lock.ts';
import {
  gcLockFile,
  lockState,
  readActive,
  readRoots,
  type ActiveBuild,
  type Root,
  type StoredFile,
} from './roots.ts';
import type { LocalStore } from './store.ts';

export type GcKind = 'root' | 'record' | 'log' | 'blob' | 'marker' | 'tmp' | 'lock';

export interface Removal extends StoredFile {
  kind: GcKind;
  /** The identity of a record, log or lock. */
  id?: string;
  /** `name-version` of a record's package or a root's container. */
  name?: string;
  /** A root's container dir. */
  container?: string;
  /** A record's artifact (sha256 hex): kept after all when the record turns out to be in use. */
  artifact?: string;
}

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
}

export interface GcPolicy {
  /** Roots last used at or before this time (ms since the epoch) have expired. */
  cutoff: number;
  /** What changed at or after this time is kept: a running build may be writing it. */
  since: number;
}

export interface GcPlan {
  /** In the order they must go. */
  remove: Removal[];
  kept: { roots: number; records: number; blobs: number };
  /** Builds running now. */
  running: number;
}

export function planGc(inventory: StoreInventory, policy: GcPolicy): GcPlan {
  const fresh = (file: StoredFile) => file.mtimeMs >= policy.since;
  const roots = new Set(
    inventory.roots.filter((r) => (r.root && r.root.lastUsed > policy.cutoff) || fresh(r)),
  );
  const running = inventory.active.filter((a) => a.live);
  const uses = [...[...roots].flatMap((r) => r.root ?? []), ...running.flatMap((a) => a.use ?? [])];
  const packages = new Set(
    uses.flatMap((u) => u.packages.map((p) => `${p.target.os}-${p.target.arch}/${p.id}`)),
  );
  // An identity lock names no target: it protects the identity on every target.
  const locked = new Set(inventory.locks.flatMap((l) => (l.state === 'held' && l.id ? [l.id] : [])));

  const records = new Set(
    inventory.records.filter((r) => packages.has(r.key) || locked.has(r.id) || fresh(r)),
  );
  const used = new Set([
    ...[...records].flatMap((r) => r.artifact ?? []),
    ...uses.flatMap((u) => u.distfiles),
  ]);
  const blobs = new Set(inventory.blobs.filter((b) => used.has(b.hex) || fresh(b)));
  const ids = new Set([
    ...[...records].map((r) => r.id),
    ...[...packages].map((key) => key.slice(-64)),
    ...locked,
  ]);
  const recorded = new Set(inventory.records.map((r) => r.id));
  // A log goes with its record; a failed build's log (it has no record) once it is as old as an expired root.
  const logGoes = (l: StoreInventory['logs'][number]) =>
    !ids.has(l.id) && !fresh(l) && (recorded.has(l.id) || l.mtimeMs <= policy.cutoff);

  const remove: Removal[] = [
    ...inventory.roots
      .filter((r) => !roots.has(r))
      .map((r) =>
        removal(
          'root',
          r,
          r.root ? { name: `${r.root.name}-${r.root.version}`, container: r.root.container } : {},
        ),
      ),
    ...inventory.active.filter((a) => !a.live).map((a) => removal('marker', a)),
    ...inventory.records
      .filter((r) => !records.has(r))
      .map((r) =>
        removal('record', r, {
          id: r.id,
          ...(r.name ? { name: r.name } : {}),
          ...(r.artifact ? { artifact: r.artifact } : {}),
        }),
      ),
    ...inventory.logs.filter(logGoes).map((l) => removal('log', l, { id: l.id })),
    ...inventory.blobs.filter((b) => !blobs.has(b)).map((b) => removal('blob', b, { id: b.hex })),
    ...inventory.scratch.filter((s) => !s.live).map((s) => removal('tmp', s)),
    ...inventory.locks
      .filter((l) => l.state === 'stale')
      .map((l) => removal('lock', l, l.id ? { id: l.id } : {})),
  ];
  return {
    remove,
    kept: { roots: roots.size, records: records.size, blobs: blobs.size },
    running: running.length,
  };
}

function removal(kind: GcKind, file: StoredFile, extra: Partial<Removal> = {}): Removal {
  return { kind, path: file.path, bytes: file.bytes, mtimeMs: file.mtimeMs, ...extra };
}

export interface GcOptions {
  keepDays: number;
  dryRun: boolean;
  /** The clock (tests). */
  now?: () => number;
}

export interface GcResult extends GcPlan {
  /** What was removed (with dryRun: what would be). */
  removed: Removal[];
  dryRun: boolean;
}

const DAY = 24 * 60 * 60 * 1000;

/** Collect the store's garbage; `on` hears of each entry as it goes (or would go). */
export async function collectGarbage(
  store: LocalStore,
  options: GcOptions,
  on: (removal: Removal) => void = () => {},
): Promise<GcResult> {
  const now = options.now ?? Date.now;
  if (!(await statIfExists(store.root))) {
    const kept = { roots: 0, records: 0, blobs: 0 };
    return { remove: [], removed: [], kept, running: 0, dryRun: options.dryRun };
  }
  if (!(await statIfExists(path.join(store.root, BINHOST_MARKER)))) {
    throw new BuilditError(
      'BUILDIT_GC_NOT_STORE',
      `${store.root} is not a buildit store (no ${BINHOST_MARKER})`,
      {
        hint: "check --store, $BUILDIT_HOME and the config's store: gc removes files only from a folder a build made a store",
      },
    );
  }
  // A dry run changes nothing, so it makes no build wait.
  const lock = options.dryRun ? undefined : await acquireLock(gcLockFile(store));
  try {
    // The lock file's mtime is the filesystem's clock, the one blobs and markers are stamped with.
    const started = lock ? (await stat(gcLockFile(store))).mtimeMs : now();
    const inventory = await scanStore(store);
    const running = inventory.active.filter((a) => a.live).map((a) => a.mtimeMs);
    const policy = { cutoff: now() - options.keepDays * DAY, since: Math.min(started, ...running) };
    const plan = planGc(inventory, policy);
    const removed = options.dryRun ? plan.remove : await applyPlan(store, plan, policy.since, on);
    if (options.dryRun) plan.remove.forEach((r) => on(r));
    return { ...plan, removed, dryRun: options.dryRun };
  } finally {
    await lock?.release();
  }
}

/** Remove in the plan's order; a record found in use at the last moment keeps its log and artifact. */
async function applyPlan(
  store: LocalStore,
  plan: GcPlan,
  since: number,
  on: (removal: Removal) => void,
): Promise<Removal[]> {
  const removed: Removal[] = [];
  const rescued = new Set<string>();
  await mkdir(path.join(store.root, 'tmp'), { recursive: true });
  for (const entry of plan.remove) {
    if ((entry.kind === 'blob' || entry.kind === 'log') && rescued.has(entry.id!)) continue;
    let gone: boolean;
    try {
      gone = await removeEntry(store, entry, since);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EACCES' && code !== 'EPERM' && code !== 'EROFS' && code !== 'EBUSY') throw error;
      throw new BuilditError('BUILDIT_GC_IO', `cannot remove ${entry.path}: ${code}`, {
        exitCode: 1,
        cause: error,
        hint: 'what was removed before it is consistent; fix the permissions and run buildit gc again',
      });
    }
    if (!gone) {
      if (entry.kind === 'record') rescued.add(entry.id!);
      if (entry.artifact) rescued.add(entry.artifact);
      continue;
    }
    removed.push(entry);
    on(entry);
    if (entry.kind === 'root')
      await removeEmptyFolder(path.dirname(entry.path), path.join(store.root, 'roots'));
  }
  return removed;
}

/** True when the entry is gone now; false when it vanished meanwhile or turned out to be in use. */
async function removeEntry(store: LocalStore, entry: Removal, since: number): Promise<boolean> {
  switch (entry.kind) {
    case 'root':
    case 'record':
    case 'blob':
      return removeUnlessTouched(store, entry.path, async (aside) => (await lstat(aside)).mtimeMs >= since);
    case 'lock':
      return removeUnlessTouched(store, entry.path, async (aside) => (await lockState(aside)) === 'held');
    case 'log':
    case 'marker':
    case 'tmp':
      try {
        await (entry.kind === 'tmp' ? rm(entry.path, { recursive: true }) : rm(entry.path));
        return true;
      } catch (error) {
        if (isNotFound(error)) return false;
        throw error;
      }
  }
}

/**
 * Move the file aside (into tmp/, named after this process so a killed gc's
 * leftovers are swept), then look again: a file a build refreshed between
 * our scan and the move goes back to its name. Checking before an unlink
 * instead would leave a moment in which a build's refresh is lost.
 */
async function removeUnlessTouched(
  store: LocalStore,
  file: string,
  inUse: (aside: string) => Promise<boolean>,
): Promise<boolean> {
  const aside = path.join(store.root, 'tmp', `${process.pid}-gc-${randomBytes(6).toString('hex')}`);
  try {
    await rename(file, aside);
  } catch (error) {
    if (isNotFound(error)) return false;
    if ((error as NodeJS.ErrnoException).code !== 'EXDEV') throw error;
    // A part of the store on another filesystem (a symlinked blobs/): only the check before unlinking is left.
    if (await inUse(file)) return false;
    await rm(file);
    return true;
  }
  try {
    if (!(await inUse(aside))) return true;
    // link, not rename: a newer file written at the name meanwhile is not replaced.
    await link(aside, file).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    return false;
  } finally {
    await rm(aside, { force: true });
  }
}

async function removeEmptyFolder(dir: string, above: string): Promise<void> {
  if (path.dirname(dir) !== above) return;
  await rmdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (!isNotFound(error) && error.code !== 'ENOTEMPTY' && error.code !== 'EEXIST') throw error;
  });
}

/** Everything gc decides about, read from the store as it is now. */
export async function scanStore(store: LocalStore): Promise<StoreInventory> {
  const root = store.root;
  const scratch: StoreInventory['scratch'] = [];
  const records: StoreInventory['records'] = [];
  for (const platform of await list(path.join(root, 'packages')))
    for (const fan of await list(path.join(root, 'packages', platform)))
      for (const name of await list(path.join(root, 'packages', platform, fan))) {
        const file = path.join(root, 'packages', platform, fan, name);
        const id = /^([0-9a-f]{64})\.json$/.exec(name)?.[1];
        if (id) {
          const record = await readRecordFile(file);
          if (record) records.push({ ...record, key: `${platform}/${id}`, id });
        } else await addInterruptedWrite(scratch, file);
      }

  const blobs: StoreInventory['blobs'] = [];
  for (const fan of await list(path.join(root, 'blobs', 'sha256')))
    for (const hex of await list(path.join(root, 'blobs', 'sha256', fan))) {
      const file = await fileInfo(path.join(root, 'blobs', 'sha256', fan, hex));
      if (file && /^[0-9a-f]{64}$/.test(hex)) blobs.push({ ...file, hex });
    }

  const logs: StoreInventory['logs'] = [];
  for (const fan of await list(path.join(root, 'logs')))
    for (const name of await list(path.join(root, 'logs', fan))) {
      const id = /^([0-9a-f]{64})\.log$/.exec(name)?.[1];
      const file = id && (await fileInfo(path.join(root, 'logs', fan, name)));
      if (id && file) logs.push({ ...file, id });
    }

  const locks: StoreInventory['locks'] = [];
  for (const name of await list(path.join(root, 'locks'))) {
    const file = path.join(root, 'locks', name);
    const aside = /\.stale-(\d+)$/.exec(name)?.[1];
    if (aside) {
      // A takeover in lock.ts moves the stale lock aside first: a leftover if its mover died there.
      const info = await fileInfo(file);
      if (info) scratch.push({ ...info, live: isAlive(Number(aside)) });
      continue;
    }
    if (!name.endsWith('.lock') || file === gcLockFile(store)) continue;
    const [state, info] = await Promise.all([lockState(file), fileInfo(file)]);
    if (state === 'free' || !info) continue;
    const id = /^([0-9a-f]{64})\.lock$/.exec(name)?.[1];
    locks.push({ ...info, state, ...(id ? { id } : {}) });
  }

  for (const name of await list(path.join(root, 'tmp'))) {
    const pid = Number(/^(\d+)-/.exec(name)?.[1]);
    if (!Number.isInteger(pid)) continue;
    const info = await fileInfo(path.join(root, 'tmp', name));
    if (info) scratch.push({ ...info, live: pid === process.pid || isAlive(pid) });
  }
  for (const name of await list(path.join(root, 'active')))
    await addInterruptedWrite(scratch, path.join(root, 'active', name));
  for (const name of await list(path.join(root, 'roots'))) {
    await addInterruptedWrite(scratch, path.join(root, 'roots', name));
    for (const inner of await list(path.join(root, 'roots', name)))
      await addInterruptedWrite(scratch, path.join(root, 'roots', name, inner));
  }

  return {
    roots: await readRoots(store),
    active: await readActive(store),
    records,
    blobs,
    logs,
    locks,
    scratch,
  };
}

/** util/atomic.ts writes `.tmp-<name>-<pid>-<random>` beside the file: left behind when killed. */
async function addInterruptedWrite(scratch: StoreInventory['scratch'], file: string): Promise<void> {
  const pid = Number(/^\.tmp-.+-(\d+)-[0-9a-f]{12}$/.exec(path.basename(file))?.[1]);
  if (!Number.isInteger(pid)) return;
  const info = await fileInfo(file);
  if (info) scratch.push({ ...info, live: pid === process.pid || isAlive(pid) });
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
    for (const name of await list(file)) bytes += (await fileInfo(path.join(file, name)))?.bytes ?? 0;
  }
  return { path: file, bytes, mtimeMs: info.mtimeMs };
}

async function list(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}
