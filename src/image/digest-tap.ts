import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * A pass-through that hashes and counts the bytes flowing by, so that one pass over a stream yields
 * its digest next to wherever the bytes go.
 */
export class DigestTap extends Transform {
  readonly algorithm: 'sha256' | 'sha512';
  #hash: Hash;
  #size = 0;
  #hex: string | undefined;

  constructor(algorithm: 'sha256' | 'sha512') {
    super();
    this.algorithm = algorithm;
    this.#hash = createHash(algorithm);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback): void {
    this.#hash.update(chunk);
    this.#size += chunk.length;
    done(null, chunk);
  }

  /** Bytes seen so far. */
  get size(): number {
    return this.#size;
  }

  /** The hex digest; only once every byte went through. */
  get hex(): string {
    if (!this.writableFinished) throw new Error('DigestTap: digest read before the stream finished');
    this.#hex ??= this.#hash.digest('hex');
    return this.#hex;
  }
}
