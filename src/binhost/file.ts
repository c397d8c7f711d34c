/**
 * A binhost in a local folder (the store's own layout, a mounted share, a
 * folder that nginx serves). Writable; every put is a temp name + rename in
 * the destination folder, so a reader sees the old bytes or the new, never half.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempPathFor } from '../util/atomic.ts';
import { BinhostError, type BinhostBackend } from './types.ts';

/**
 * The segments of a layout path (SPEC §5), or BUILDIT_BINHOST_PATH.
 * Paths reach backends from records a binhost served, so they are untrusted:
 * one that could leave the binhost root (`..`, absolute) or name something
 * odd (empty segments, `\`, NUL) is refused by every backend alike.
 */
export function layoutSegments(layoutPath: string): string[] {
  const bad = (why: string): BinhostError =>
    new BinhostError('BUILDIT_BINHOST_PATH', `${JSON.stringify(layoutPath)} is not a binhost path: ${why}`, {
      transient: false,
      hint: "binhost paths are relative and '/'-separated, without '.', '..' or empty segments",
    });
  if (typeof layoutPath !== 'string' || layoutPath === '') throw bad('empty');
  if (layoutPath.startsWith('/')) throw bad('absolute');
  if (/[\\\0]/.test(layoutPath)) throw bad('backslash or NUL');
  const segments = layoutPath.split('/');
  for (const segment of segments) {
    if (segment === '') throw bad('empty segment');
    if (segment === '.' || segment === '..') throw bad(`'${segment}' segment`);
  }
  return segments;
}

/** A put's body failed: its own error (the caller's), not the binhost's, and not to be retried as one. */
export class BodyFailed extends Error {
  constructor(override readonly cause: unknown) {
    super('the body of a put failed', { cause });
  }
}

/**
 * Pipe a put's body into a backend's sink. Whichever stream fails first is
 * the culprit (pipeline then destroys the other with the same error); when it
 * is the body, the error comes back wrapped in BodyFailed.
 */
export async function pipeBody(source: Readable, sink: Writable, signal?: AbortSignal): Promise<void> {
  let first: 'source' | 'sink' | undefined;
  source.once('error', () => (first ??= 'source'));
  sink.once('error', () => (first ??= 'sink'));
  try {
    await (signal ? pipeline(source, sink, { signal }) : pipeline(source, sink));
  } catch (error) {
    if (first === 'source' && !signal?.aborted) throw new BodyFailed(error);
    throw error;
  }
}

export function openFileBinhost(root: string): BinhostBackend {
  const base = path.resolve(root);
  const fileOf = (layoutPath: string): string => path.join(base, ...layoutSegments(layoutPath));
  const failure = (what: string, error: unknown): BinhostError =>
    new BinhostError('BUILDIT_BINHOST_IO', `${what}: ${(error as Error).message}`, {
      transient: false,
      cause: error,
    });

  return {
    describe: base,
    writable: true,

    async get(layoutPath: string, signal?: AbortSignal): Promise<Readable | undefined> {
      const file = fileOf(layoutPath);
      signal?.throwIfAborted();
      // Opened before the stream exists, so "absent" is an answer, not a stream error.
      let handle;
      try {
        handle = await open(file, 'r');
      } catch (error) {
        if (isAbsent(error)) return undefined;
        throw failure(`cannot read ${file}`, error);
      }
      try {
        if (!(await handle.stat()).isFile()) {
          await handle.close();
          return undefined;
        }
      } catch (error) {
        await handle.close().catch(() => undefined);
        throw failure(`cannot read ${file}`, error);
      }
      return handle.createReadStream(signal ? { signal } : {});
    },

    async has(layoutPath: string, signal?: AbortSignal): Promise<boolean> {
      const file = fileOf(layoutPath);
      signal?.throwIfAborted();
      try {
        return (await stat(file)).isFile();
      } catch (error) {
        if (isAbsent(error)) return false;
        throw failure(`cannot stat ${file}`, error);
      }
    },

    async put(layoutPath: string, body: () => Readable, signal?: AbortSignal): Promise<void> {
      const file = fileOf(layoutPath);
      signal?.throwIfAborted();
      try {
        await mkdir(path.dirname(file), { recursive: true });
      } catch (error) {
        throw failure(`cannot create the folder of ${file}`, error);
      }
      // `.tmp-<name>-<pid>-<random>` beside the file: same filesystem, so the rename is atomic.
      const temp = tempPathFor(file);
      try {
        await pipeBody(body(), createWriteStream(temp, { flags: 'wx', mode: 0o644 }), signal);
        await rename(temp, file);
      } catch (error) {
        await rm(temp, { force: true }).catch(() => undefined);
        if (error instanceof BodyFailed) throw error.cause;
        if (signal?.aborted) throw signal.reason;
        throw failure(`cannot write ${file}`, error);
      }
    },

    async close(): Promise<void> {},
  };
}

function isAbsent(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}
