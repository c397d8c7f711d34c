import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';

/**
 * Reads a gzip'd tar, calling `onEntry` for each entry in order. The next entry is handed over
 * only once `onEntry`'s promise has settled and the entry's body has been consumed (or resumed,
 * which skips it); until then the parser stops taking bytes, so memory holds at most a chunk or
 * two of the archive whatever its size, and at most one body is being written anywhere.
 *
 * node-tar does the header parsing (ustar, PAX, GNU long names, base-256 numbers); gunzip is ours
 * so that its ratio guard, meant for untrusted downloads, does not trip on a layer of zeros (our
 * layers are already verified against their digests by the time they are read).
 */
export async function readTarGz(
  source: Readable,
  what: string,
  onEntry: (entry: ReadEntry) => Promise<void>,
): Promise<void> {
  const parser = new Parser({ strict: false });
  let failure: unknown;
  let entries = 0;
  let chain: Promise<void> = Promise.resolve();
  // One waiter at a time: the loop below sleeps until the parser drains, ends, or something fails.
  let wake: (() => void) | undefined;
  const poke = (): void => {
    const w = wake;
    wake = undefined;
    w?.();
  };
  const sleep = (): Promise<void> => new Promise((resolve) => (wake = resolve));
  const fail = (error: unknown): void => {
    failure ??= error;
    poke();
  };
  let thirsty: boolean; // the last write was refused until the parser drains
  let ended = false;
  parser.on('drain', () => {
    thirsty = false;
    poke();
  });
  parser.on('end', () => {
    ended = true;
    poke();
  });
  parser.on('warn', (code: string, message: string) => {
    // An archive of nothing but its end blocks (an empty layer) is valid; node-tar calls it
    // unrecognized because it never saw an entry.
    if (code === 'TAR_BAD_ARCHIVE' && entries === 0 && /Unrecognized archive/.test(message)) return;
    fail(new Error(`${what}: ${message}`));
  });
  parser.on('error', fail);
  parser.on('ignoredEntry', (entry: ReadEntry) => {
    fail(new Error(`${what}: ${entry.path}: unsupported tar entry type ${JSON.stringify(entry.type)}`));
  });
  // Entries whose body has not ended: if the archive breaks off inside one (a truncated or damaged
  // gzip), the parser will never end it, and a consumer reading its body would wait forever.
  const open = new Set<ReadEntry>();
  parser.on('entry', (entry: ReadEntry) => {
    entries++;
    open.add(entry);
    entry.once('end', () => open.delete(entry));
    chain = chain
      .then(() => (failure === undefined ? onEntry(entry) : undefined))
      .catch(fail)
      // Whatever happened, let the parser move on (a consumed entry ignores this).
      .finally(() => void entry.resume());
  });

  const gunzip = createGunzip();
  pipeline(source, gunzip, () => undefined); // an error in either destroys gunzip, which throws below
  try {
    for await (const chunk of gunzip) {
      if (failure !== undefined) break;
      thirsty = !parser.write(chunk as Buffer);
      while (thirsty && failure === undefined) await sleep();
    }
    if (failure === undefined) {
      parser.end();
      while (!ended && failure === undefined) await sleep();
    }
  } catch (error) {
    fail(new Error(`${what}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
  } finally {
    gunzip.destroy();
  }
  // Cut short, not destroyed: a destroyed entry's reader never hears of it; the short body is
  // discarded with everything else, since the failure is thrown below.
  if (failure !== undefined) for (const entry of open) entry.end();
  await chain;
  if (failure !== undefined) throw failure;
}
