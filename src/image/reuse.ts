/**
 * Remembered image outputs: for each output path, which inputs it was written from, the digest
 * it reported and the sha256 of its bytes. When a build asks for the same inputs at the same path,
 * the file there is hashed (~1.4 GB/s) instead of assembled again (an ACI merges and re-deflates
 * every layer: 60 ms of a 0.5 s no-op rebuild of examples/hello, and ~15 s for a GiB). A file that
 * changed since, or a torn record, does not match, and the image is written as usual.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { sha256File, statIfExists } from '../util/fs.ts';

const SCHEMA = 'buildit-output-memo/v1';

interface Memo {
  schema: string;
  output: string;
  inputs: string;
  digest: string;
  sha256: string;
  size: number;
}

export class OutputMemo {
  /** A folder of its own, e.g. `<store>/cache/images`. */
  readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** The digest `output` was written with, when it was written from `inputs` and is unchanged since. */
  async find(output: string, inputs: string): Promise<string | undefined> {
    output = path.resolve(output);
    let memo: Memo;
    try {
      memo = JSON.parse(await readFile(this.#file(output), 'utf8')) as Memo;
    } catch {
      return undefined; // never written, unreadable or torn: build
    }
    if (memo.schema !== SCHEMA || memo.output !== output || memo.inputs !== hash(inputs)) return undefined;
    const found = await statIfExists(output);
    if (!found?.isFile() || found.size !== memo.size) return undefined;
    return (await sha256File(output)) === memo.sha256 ? memo.digest : undefined;
  }

  /** Records what `output` now holds; a failure to record only costs the next build the work. */
  async remember(
    output: string,
    inputs: string,
    written: { digest: string; sha256: string; size: number },
  ): Promise<void> {
    output = path.resolve(output);
    const memo: Memo = { schema: SCHEMA, output, inputs: hash(inputs), ...written };
    await writeFileAtomic(this.#file(output), `${JSON.stringify(memo)}\n`).catch(() => undefined);
  }

  /** One record per (absolute) output path: the folder grows with the outputs a machine has, not with builds. */
  #file(output: string): string {
    return path.join(this.dir, `${hash(output)}.json`);
  }
}

/**
 * The output a memo file speaks of, when that output is gone (or the memo is unreadable): the memo
 * can go. `buildit gc` asks; an output still there keeps its memo, however old.
 */
export async function memoIsOrphan(file: string): Promise<boolean> {
  let memo: Partial<Memo>;
  try {
    memo = JSON.parse(await readFile(file, 'utf8')) as Partial<Memo>;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false; // already gone
    return true; // torn or not ours
  }
  if (memo.schema !== SCHEMA || typeof memo.output !== 'string') return true;
  return (await statIfExists(memo.output)) === undefined;
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
