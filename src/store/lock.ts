/**
 * Cross-process locks on store entries: a lock file created exclusively,
 * holding the owner's host and pid. A lock whose owner on this host is gone
 * (a build killed with SIGKILL) is stale and taken over.
 */
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { OWNER, OWNER_PATTERN } from '../util/owner.ts';
import { isAlive } from '../util/process.ts';

export interface Lock {
  release(): Promise<void>;
}

/** A lock moved aside by a takeover: `<lock>.stale-<owner>` (captures: pid, host tag). */
export const STALE_NAME = new RegExp(String.raw`\.stale-${OWNER_PATTERN}$`);

export async function acquireLock(file: string, signal?: AbortSignal): Promise<Lock> {
  await mkdir(path.dirname(file), { recursive: true });
  const me = `${os.hostname()} ${process.pid}\n`;
  for (let delay = 25; ; delay = Math.min(delay * 2, 500)) {
    signal?.throwIfAborted();
    try {
      const handle = await open(file, 'wx');
      await handle.writeFile(me);
      await handle.close();
      return { release: () => rm(file, { force: true }) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (await isStale(file)) {
      // Move it aside before removing it, so only one waiter takes it over.
      const aside = `${file}.stale-${OWNER}`;
      try {
        await rename(file, aside);
        await rm(aside, { force: true });
      } catch {
        // another waiter got there first
      }
      continue;
    }
    await sleep(delay);
  }
}

async function isStale(file: string): Promise<boolean> {
  let owner: string;
  try {
    owner = await readFile(file, 'utf8');
  } catch {
    return false; // released meanwhile: just retry
  }
  const [host, pidText] = owner.trim().split(' ');
  const pid = Number(pidText);
  // An empty file is a writer between create and write, or one that died
  // there: stale only once it has stayed empty for a while.
  if (owner.trim() === '')
    return Date.now() - (await stat(file).catch(() => ({ mtimeMs: Date.now() }))).mtimeMs > 5000;
  // Only a lock taken on this host can be checked.
  if (host !== os.hostname() || !Number.isInteger(pid)) return false;
  return !isAlive(pid);
}
