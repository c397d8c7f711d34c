/**
 * `buildit gc`: remove what no container built in the last --keep-days days
 * uses, and never what a running build holds (docs/gc.md tells how it decides).
 *
 * Read the store (scanStore, gc-scan.ts), decide (planGc, gc-plan.ts, pure),
 * then remove in order: roots, records (with their logs), blobs, then
 * leftovers of killed runs. A record never names a missing blob, and an
 * interrupted gc leaves only orphans that the next one removes. containers/
 * is never touched.
 */
import { randomBytes } from 'node:crypto';
import { link, lstat, mkdir, rename, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { BuilditError } from '../errors.ts';
import { isNotFound, statIfExists } from '../util/fs.ts';
import { OWNER } from '../util/owner.ts';
import { planGc, type GcPlan, type Removal } from './gc-plan.ts';
import { scanStore } from './gc-scan.ts';
import { BINHOST_MARKER } from './layout.ts';
import { acquireLock } from './lock.ts';
import { gcLockFile, lockState } from './roots.ts';
import type { LocalStore } from './store.ts';

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
    case 'memo':
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
  const aside = path.join(store.root, 'tmp', `${OWNER}-gc-${randomBytes(6).toString('hex')}`);
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
