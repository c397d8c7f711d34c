/** Small filesystem helpers with the error handling buildit needs. */
import { createHash } from 'node:crypto';
import { createReadStream, type Stats } from 'node:fs';
import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';

export function isNotFound(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  // A looping symlink names nothing either.
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
}

/** What readTextIfExists returns for a folder where a file was expected. */
export const notAFile: unique symbol = Symbol('not a file');

/** The file's text; undefined when it does not exist; `notAFile` for a folder. */
export async function readTextIfExists(file: string): Promise<string | undefined | typeof notAFile> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if (isNotFound(error)) return undefined;
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') return notAFile;
    throw error;
  }
}

export async function statIfExists(file: string): Promise<Stats | undefined> {
  try {
    return await stat(file);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/** The names in a folder, sorted (so what is read from it comes in one order); none when it is gone. */
export async function readdirIfExists(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if (isNotFound(error)) return [];
    throw error;
  }
}

/** sha256 hex of a file's bytes, streamed. */
export async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** True when `inner` is `outer` or below it (both absolute, already resolved). */
export function isInside(outer: string, inner: string): boolean {
  const rel = path.relative(outer, inner);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Where `ref` (relative to `base`) really is, following symlinks, and whether
 * that stays inside `root`. A lexical check alone would let a symlink escape.
 */
export async function resolveInside(
  root: string,
  base: string,
  ref: string,
): Promise<{ path: string; inside: boolean; exists: boolean }> {
  const lexical = path.resolve(base, ref);
  const realRoot = await realpath(root);
  try {
    const real = await realpath(lexical);
    return { path: lexical, inside: isInside(realRoot, real), exists: true };
  } catch (error) {
    if (!isNotFound(error)) throw error;
    return { path: lexical, inside: isInside(path.resolve(root), lexical), exists: false };
  }
}
