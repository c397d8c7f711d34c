/**
 * Atomic writes: a temporary name in the destination's folder, then rename.
 * A reader (or a run after SIGKILL) sees the old state or the new, never half.
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { OWNER, OWNER_PATTERN } from './owner.ts';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** What tempPathFor names: `.tmp-<name>-<owner>-<random>` (captures: the owner's pid, then its host tag). */
export const ATOMIC_NAME = new RegExp(String.raw`^\.tmp-.+-${OWNER_PATTERN}-[0-9a-f]{12}$`);

/** A temporary path beside `file` that no other writer will pick. */
export function tempPathFor(file: string): string {
  return path.join(
    path.dirname(file),
    `.tmp-${path.basename(file)}-${OWNER}-${randomBytes(6).toString('hex')}`,
  );
}

/** `options.mtime`: the file's modification time, set before it appears (default: now). */
export async function writeFileAtomic(
  file: string,
  data: string | Uint8Array,
  options: { mtime?: Date } = {},
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = tempPathFor(file);
  try {
    const handle = await open(temp, 'wx', 0o644);
    try {
      await handle.writeFile(data);
      if (options.mtime) await handle.utimes(options.mtime, options.mtime);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

/**
 * Stream into `file` atomically. `check` runs after the bytes are on disk and
 * before the rename; throwing there leaves nothing at `file`.
 */
export async function writeStreamAtomic(
  file: string,
  source: Readable,
  check?: () => void | Promise<void>,
): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const temp = tempPathFor(file);
  try {
    await pipeline(source, createWriteStream(temp, { flags: 'wx', mode: 0o644 }));
    await check?.();
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
