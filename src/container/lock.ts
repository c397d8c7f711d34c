/**
 * container.lock (SPEC §2.5): what a resolve learned, beside container.yaml.
 * Read here for the sha256 of remote inputs pinned on first fetch.
 */
import path from 'node:path';
import { z } from 'zod';
import { BuilditError } from '../errors.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { notAFile, readTextIfExists } from '../util/fs.ts';
import { jsonErrorPosition } from '../util/json.ts';

export const LOCK_NAME = 'container.lock';
export const LOCK_SCHEMA = 'buildit-lock/v1';

const lockSchema = z.object({
  schema: z.literal(LOCK_SCHEMA),
  distfiles: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)).default({}),
  packages: z.array(z.unknown()).default([]),
});

export interface Lock {
  file: string;
  /** The file's text as read, to tell whether a resolve changes it. */
  text: string | undefined;
  /** sha256 of remote sources and patches, by URL. */
  distfiles: Map<string, string>;
}

export async function readLock(containerDir: string): Promise<Lock> {
  const file = path.join(containerDir, LOCK_NAME);
  const text = await readTextIfExists(file);
  if (text === notAFile) {
    throw new BuilditError('BUILDIT_LOCK_INVALID', `${LOCK_NAME} is a folder, not a file`, {
      location: { file },
      hint: 'remove the folder; the next build writes the lock',
    });
  }
  if (text === undefined) return { file, text, distfiles: new Map() };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    throw new BuilditError('BUILDIT_LOCK_INVALID', `${LOCK_NAME} is not valid JSON: ${message}`, {
      location: { file, ...jsonErrorPosition(text, message) },
      hint: `restore it from version control, or delete it to pin remote inputs again on the next build`,
    });
  }
  const parsed = lockSchema.safeParse(json);
  if (!parsed.success) {
    throw new BuilditError(
      'BUILDIT_LOCK_INVALID',
      `${LOCK_NAME} does not match ${LOCK_SCHEMA}: ${parsed.error.issues[0]?.message ?? ''}`,
      {
        location: { file },
        hint: 'restore it from version control, or delete it to pin remote inputs again on the next build',
      },
    );
  }
  return { file, text, distfiles: new Map(Object.entries(parsed.data.distfiles)) };
}

export interface LockContent {
  /** sha256 of every remote source and patch, by URL. */
  distfiles: Record<string, string>;
  packages: { atom: string; target: string; id: string; from: string }[];
}

function render(content: LockContent): string {
  return `${JSON.stringify({ schema: LOCK_SCHEMA, distfiles: content.distfiles, packages: content.packages }, null, 2)}\n`;
}

/** --frozen: the lock must already say exactly this. */
export function checkFrozen(lock: Lock, content: LockContent, frozen: boolean): void {
  if (!frozen || lock.text === render(content)) return;
  throw new BuilditError('BUILDIT_LOCK_FROZEN', `${LOCK_NAME} would change, and --frozen forbids it`, {
    location: { file: lock.file },
    hint:
      lock.text === undefined
        ? 'there is no container.lock yet: build once without --frozen and commit it'
        : 'build without --frozen to update it, and review the change',
  });
}

/** Write container.lock when its content changed (atomically). */
export async function writeLock(lock: Lock, content: LockContent): Promise<boolean> {
  const text = render(content);
  if (lock.text === text) return false;
  await writeFileAtomic(lock.file, text);
  return true;
}
