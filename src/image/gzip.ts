import { Transform, type TransformCallback } from 'node:stream';
import { constants, crc32, type ZlibOptions } from 'node:zlib';
import { deflateHere, sharedDeflatePool, type DeflatePool } from './deflate-pool.ts';

/**
 * The input is cut into chunks of this size, each deflated on its own (pigz's scheme). Part of
 * the output format: another size gives other bytes, so it is fixed, never derived from the
 * machine. 1 MiB: a worker round trip is well under 1 ms against ~25 ms of deflating (44 MB/s on
 * incompressible data), and restarting deflate's statistics per chunk cost nothing measurable: the
 * bench's 500 MiB tree came out 0.015% larger than with GNU gzip -6.
 */
export const GZIP_CHUNK = 1 << 20;
/** Deflate's window: how far back a chunk may refer into the one before. */
const WINDOW = 32 * 1024;
const OS_UNIX = 3;

export interface GzipOptions {
  /**
   * Where chunks are deflated: the process's workers by default, `null` for this thread only.
   * The bytes are the same either way, and for any number of workers.
   */
  pool?: DeflatePool | null;
}

/**
 * A gzip stream whose bytes depend on the input, the level and the zlib build alone: header
 * mtime 0 and OS byte 3 (unix), whatever the host (zlib's own OS byte is a compile-time constant,
 * nodejs/node#48690), and the same bytes whether chunks were deflated here or by 1 or 16 workers.
 *
 * Every chunk is a raw deflate stream primed with the previous chunk's last 32 KiB as its
 * dictionary and ended with a sync flush (an empty stored block, so the next chunk starts on a
 * byte boundary); the last chunk ends with Z_FINISH. Their concatenation is one valid deflate
 * stream, which one core could not produce at more than ~44 MB/s on incompressible data.
 *
 * The compressed bytes are only stable for one zlib build: Node bundles Chromium's zlib, and a
 * different Node major may compress differently. Identity therefore lives in the uncompressed tar.
 */
export function deterministicGzip(level = 6, options: GzipOptions = {}): Transform {
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new Error(`gzip: level must be a whole number from 0 to 9, got ${level}`);
  }
  return new ChunkedGzip(level, options.pool === undefined ? sharedDeflatePool() : options.pool);
}

interface Slot {
  done: boolean;
  out?: Buffer;
  failure?: { error: unknown };
  settled: Promise<void>;
}

class ChunkedGzip extends Transform {
  readonly #level: number;
  readonly #pool: DeflatePool | null;
  /** Chunks in flight, in stream order; pushed as the oldest ones finish. */
  readonly #slots: Slot[] = [];
  readonly #maxInFlight: number;
  #chunk = Buffer.allocUnsafeSlow(GZIP_CHUNK);
  #fill = 0;
  #dictionary: Buffer | undefined;
  #chunks = 0;
  #crc = 0;
  #size = 0;

  constructor(level: number, pool: DeflatePool | null) {
    super();
    this.#level = level;
    this.#pool = pool;
    // Enough to keep every worker busy while the oldest chunk's output waits to be pushed.
    this.#maxInFlight = pool ? 2 * pool.size + 1 : 1;
    // zlib's XFL: 2 for the slowest level, 4 for the fastest.
    const xfl = level === 9 ? 2 : level <= 1 ? 4 : 0;
    this.push(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, OS_UNIX]));
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#take(data).then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    this.#finish().then(() => done(), done);
  }

  async #take(data: Buffer): Promise<void> {
    for (let at = 0; at < data.length;) {
      const n = Math.min(GZIP_CHUNK - this.#fill, data.length - at);
      data.copy(this.#chunk, this.#fill, at, at + n);
      this.#fill += n;
      at += n;
      if (this.#fill === GZIP_CHUNK) await this.#submit(false);
    }
  }

  async #finish(): Promise<void> {
    await this.#submit(true);
    while (this.#slots.length > 0) await this.#pushOldest();
    const trailer = Buffer.alloc(8);
    trailer.writeUInt32LE(this.#crc >>> 0, 0);
    trailer.writeUInt32LE(this.#size % 2 ** 32, 4);
    this.push(trailer);
  }

  async #submit(last: boolean): Promise<void> {
    const input = this.#chunk.subarray(0, this.#fill);
    this.#crc = crc32(input, this.#crc);
    this.#size += input.length;
    const task = { input, options: this.#deflateOptions(last), ...this.#primer() };
    this.#dictionary = last ? undefined : Buffer.from(input.subarray(input.length - WINDOW));
    // A stream of one chunk (most sync layers, every small file) never waits for a worker to start.
    const here = this.#pool === null || (last && this.#chunks === 0);
    this.#chunks++;
    if (!last) {
      this.#chunk = Buffer.allocUnsafeSlow(GZIP_CHUNK);
      this.#fill = 0;
    }
    const work = here ? Promise.resolve().then(() => deflateHere(task)) : this.#pool!.run(task);
    const slot: Slot = { done: false, settled: Promise.resolve() };
    // Settled here, so that a failure is never unhandled while older chunks are still awaited.
    slot.settled = work.then(
      (out) => {
        slot.out = out;
        slot.done = true;
      },
      (error: unknown) => {
        slot.failure = { error };
        slot.done = true;
      },
    );
    this.#slots.push(slot);
    while (this.#slots[0]?.done) await this.#pushOldest();
    while (this.#slots.length >= this.#maxInFlight) await this.#pushOldest();
  }

  #primer(): { dictionary?: Buffer } {
    return this.#dictionary ? { dictionary: this.#dictionary } : {};
  }

  #deflateOptions(last: boolean): ZlibOptions {
    return {
      level: this.#level,
      windowBits: 15,
      memLevel: 8,
      strategy: constants.Z_DEFAULT_STRATEGY,
      finishFlush: last ? constants.Z_FINISH : constants.Z_SYNC_FLUSH,
    };
  }

  async #pushOldest(): Promise<void> {
    const slot = this.#slots[0]!;
    await slot.settled;
    this.#slots.shift();
    if (slot.failure) throw slot.failure.error;
    this.push(slot.out);
  }
}
