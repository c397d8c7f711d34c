import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { DeflatePool } from '../../src/image/deflate-pool.ts';
import { deterministicGzip, GZIP_CHUNK, type GzipOptions } from '../../src/image/gzip.ts';
import { collect } from './helpers.ts';

/** Half random, half text, fed in 64 KiB pieces that do not line up with the chunks. */
function sample(chunks: number, tail: number): Buffer {
  const text = Buffer.from('buildit packs deterministic layers; '.repeat(40_000)).subarray(0, GZIP_CHUNK);
  const seeded = createHash('sha512');
  const pseudoRandom = (n: number): Buffer => {
    const out: Buffer[] = [];
    for (let size = 0; size < n; size += 64) out.push(seeded.copy().update(String(size)).digest());
    return Buffer.concat(out).subarray(0, n);
  };
  const parts: Buffer[] = [];
  for (let i = 0; i < chunks; i++) parts.push(i % 2 ? text : pseudoRandom(GZIP_CHUNK));
  parts.push(pseudoRandom(tail));
  return Buffer.concat(parts);
}

function gzip(input: Buffer, level: number, options: GzipOptions): Promise<Buffer> {
  const pieces: Buffer[] = [];
  for (let at = 0; at < input.length; at += 65_531) pieces.push(input.subarray(at, at + 65_531));
  return collect(Readable.from(pieces).pipe(deterministicGzip(level, options)));
}

test('chunked gzip: the same bytes inline, with 1 and with 3 workers, and on every run', async () => {
  const input = sample(5, 1234);
  const [one, three] = [new DeflatePool(1), new DeflatePool(3)];
  try {
    const inline = await gzip(input, 6, { pool: null });
    assert.deepEqual(gunzipSync(inline), input);
    for (const options of [{ pool: one }, { pool: three }, { pool: three }, {}]) {
      assert.ok((await gzip(input, 6, options)).equals(inline));
    }
    // Pinned: a change of chunking or options changes every artifact digest; do it on purpose.
    assert.equal(
      createHash('sha256').update(inline).digest('hex'),
      '7b10536b2b49e77fcde71c59c50d10e96acb12cad002489b0bf77ec79b17f4c6',
    );
  } finally {
    await Promise.all([one.close(), three.close()]);
  }
});

test('chunked gzip: edge sizes round-trip through zlib and GNU gzip', async () => {
  const pool = new DeflatePool(2);
  try {
    for (const [chunks, tail] of [
      [0, 0],
      [0, 1],
      [1, 0],
      [2, 0],
      [1, 32 * 1024 - 1],
      [3, 7],
    ] as const) {
      const input = sample(chunks, tail);
      for (const level of [0, 1, 6, 9]) {
        const gz = await gzip(input, level, { pool });
        assert.deepEqual(gz.subarray(0, 8), Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0]));
        assert.equal(gz[9], 3, 'OS byte: unix');
        assert.ok(gunzipSync(gz).equals(input), `${chunks} chunks + ${tail} bytes, level ${level}`);
        assert.ok(execFileSync('gzip', ['-dc'], { input: gz, maxBuffer: 1 << 26 }).equals(input));
        assert.ok((await gzip(input, level, { pool: null })).equals(gz));
      }
    }
  } finally {
    await pool.close();
  }
});

test('chunked gzip compresses about as well as one zlib stream', async () => {
  const input = sample(6, 0);
  const chunked = await gzip(input, 6, { pool: null });
  const whole = (await import('node:zlib')).gzipSync(input, { level: 6 });
  assert.ok(chunked.length < whole.length * 1.001, `${chunked.length} vs ${whole.length}`);
});

test('a worker failure fails the stream', async () => {
  const pool = new DeflatePool(1);
  try {
    const broken = Readable.from([randomBytes(3 * GZIP_CHUNK)]).pipe(
      deterministicGzip(6, { pool: { size: 1, run: () => Promise.reject(new Error('boom')) } as never }),
    );
    await assert.rejects(collect(broken), /boom/);
  } finally {
    await pool.close();
  }
});
