import type { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';

const OS_BYTE = 9;
const OS_UNIX = 3;

/**
 * A gzip stream whose header does not depend on the host: mtime 0 and OS byte 3 (unix).
 * zlib already writes mtime 0 when no gzip header is set, but its OS byte is a compile-time
 * constant (10 on Windows, 19 on macOS; nodejs/node#48690), so the same layer would get a
 * different digest per platform. We fix the byte on the way out rather than writing our own
 * header and trailer, so that backpressure and errors stay zlib's own.
 *
 * The compressed bytes are only stable for one zlib build: Node bundles Chromium's zlib, and a
 * different Node major may compress differently. Identity therefore lives in the uncompressed tar.
 */
export function deterministicGzip(level = 6): Transform {
  if (!Number.isInteger(level) || level < 0 || level > 9) {
    throw new Error(`gzip: level must be a whole number from 0 to 9, got ${level}`);
  }
  const gzip = createGzip({ level });
  const push = gzip.push.bind(gzip);
  let first = true;
  gzip.push = (chunk: unknown, encoding?: BufferEncoding): boolean => {
    if (first && Buffer.isBuffer(chunk)) {
      first = false;
      // zlib emits the whole 10-byte header in its first output chunk (its output buffer is far
      // larger); copy so that zlib's own buffer is never written to.
      if (chunk.length <= OS_BYTE) {
        gzip.destroy(new Error('gzip: first output chunk is shorter than the gzip header'));
        return false;
      }
      const fixed = Buffer.from(chunk);
      fixed[OS_BYTE] = OS_UNIX;
      return push(fixed, encoding);
    }
    return push(chunk, encoding);
  };
  return gzip;
}
