/**
 * container.lock (SPEC §2.5): what a resolve learned, beside container.yaml.
 * Read here for the sha256 of remote inputs pinned on first fetch.
 */
import path from 'node:path';
import { z } from 'zod';
import { BuilditError } from '../errors.ts';
import { readTextIfExists } from '../util/fs.ts';

export const LOCK_NAME = 'container.lock';
export const LOCK_SCHEMA = 'buildit-lock/v1';

const lockSchema = z.object({
  schema: z.literal(LOCK_SCHEMA),
  distfiles: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/)).default({}),
  packages: z.array(z.unknown()).default([]),
});

export interface Lock {
  file: string;
  /** sha256 of remote sources and patches, by URL. */
  distfiles: Map<string, string>;
}

export async function readLock(containerDir: string): Promise<Lock> {
  const file = path.join(containerDir, LOCK_NAME);
  const text = await readTextIfExists(file);
  if (text === undefined) return { file, distfiles: new Map() };
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new BuilditError(
      'BUILDIT_LOCK_INVALID',
      `${LOCK_NAME} is not valid JSON: ${(error as Error).message}`,
      {
        location: { file },
        hint: `restore it from version control, or delete it to pin remote inputs again on the next build`,
      },
    );
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
  return { file, distfiles: new Map(Object.entries(parsed.data.distfiles)) };
}
