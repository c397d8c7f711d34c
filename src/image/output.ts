/**
 * Atomic image outputs. An image is built under a temporary name beside its final path (same
 * filesystem, so the last step is a rename) and only then put in place: an interrupted or failed
 * write leaves nothing at the final name, only a `.tmp-*` sibling that the next write ignores.
 */
import { mkdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { tempPathFor } from '../util/atomic.ts';

export interface OutputWork {
  /** Where to build the output (a file or a folder, whichever the output is); renamed into place. */
  temp: string;
  /** A scratch folder on the output's filesystem, removed afterwards. */
  scratch: () => Promise<string>;
}

/**
 * Runs `build` against a temporary path, then moves the result to `final`, replacing what was
 * there. On any failure the temporary path and the scratch folder are removed and `final` is
 * left as it was.
 */
export async function writeOutput<T>(final: string, build: (work: OutputWork) => Promise<T>): Promise<T> {
  await mkdir(path.dirname(final), { recursive: true });
  const temp = tempPathFor(final);
  let scratchDir: string | undefined;
  const scratch = async (): Promise<string> => {
    if (scratchDir === undefined) {
      scratchDir = `${tempPathFor(final)}-work`;
      await mkdir(scratchDir, { mode: 0o700 });
    }
    return scratchDir;
  };
  try {
    const result = await build({ temp, scratch });
    await replace(temp, final);
    return result;
  } catch (error) {
    await rm(temp, { recursive: true, force: true });
    throw error;
  } finally {
    if (scratchDir !== undefined) await rm(scratchDir, { recursive: true, force: true });
  }
}

/**
 * rename(2) replaces a file, or an empty folder, in one step. A non-empty folder (an earlier OCI
 * layout) cannot be replaced atomically without renameat2(RENAME_EXCHANGE), which Node does not
 * offer: it is moved aside first, so for a moment there is no output at all — never a mix.
 */
async function replace(temp: string, final: string): Promise<void> {
  try {
    await rename(temp, final);
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EISDIR' && code !== 'ENOTDIR') throw error;
  }
  const old = `${tempPathFor(final)}-old`;
  await rename(final, old);
  try {
    await rename(temp, final);
  } catch (error) {
    await rename(old, final).catch(() => undefined);
    throw error;
  }
  await rm(old, { recursive: true, force: true });
}
