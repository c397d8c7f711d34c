import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import { RegistryClient } from '../../src/registry/client.ts';
import { startRegistry, type RegistryServer } from '../helpers/registry.ts';

let registry: RegistryServer;
before(async () => {
  registry = await startRegistry('anonymous');
});
after(async () => {
  await registry.stop();
});

async function bytesOf(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A blob fed in pieces of `piece` bytes, so that chunk edges fall inside reads. */
function source(blob: Buffer, piece: number): () => Readable {
  return () =>
    Readable.from(
      (function* () {
        for (let at = 0; at < blob.length; at += piece) yield blob.subarray(at, at + piece);
      })(),
    );
}

// 350 KiB + 7: chunks of 100 KiB leave a short last one, and reads of 48 KiB straddle every edge.
const blob = randomBytes(350 * 1024 + 7);
const digest = `sha256:${createHash('sha256').update(blob).digest('hex')}`;

for (const [label, chunkSize] of [
  ['in 100 KiB PATCHes', 100 * 1024],
  ['in one streamed PATCH (the default)', undefined],
] as const) {
  test(`a blob above the monolithic limit is uploaded ${label} and reads back the same`, async () => {
    const client = new RegistryClient({
      registry: registry.host,
      insecure: true,
      env: {},
      monolithicLimit: 1024,
      ...(chunkSize ? { chunkSize } : {}),
    });
    const repo = `upload/${chunkSize ?? 'whole'}`;
    try {
      assert.equal(await client.pushBlob(repo, digest, blob.length, source(blob, 48 * 1024)), 'uploaded');
      assert.equal(await client.hasBlob(repo, digest), true);
      assert.ok((await bytesOf(await client.getBlob(repo, digest))).equals(blob));
      assert.equal(await client.pushBlob(repo, digest, blob.length, source(blob, 48 * 1024)), 'present');
    } finally {
      client.close();
    }
  });
}

test('a source shorter than the size announced fails the upload, and the registry has no such blob', async () => {
  const client = new RegistryClient({
    registry: registry.host,
    insecure: true,
    env: {},
    monolithicLimit: 1024,
    chunkSize: 100 * 1024,
  });
  try {
    const short = source(blob.subarray(0, 200 * 1024), 48 * 1024);
    await assert.rejects(
      client.pushBlob('upload/short', digest, blob.length, short),
      /ended after 204800 of 358407 bytes/,
    );
    assert.equal(await client.hasBlob('upload/short', digest), false);
  } finally {
    client.close();
  }
});
