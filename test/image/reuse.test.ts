import assert from 'node:assert/strict';
import { appendFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { writeAci, type AciImage } from '../../src/image/aci.ts';
import { OutputMemo } from '../../src/image/reuse.ts';
import { tempDir } from './helpers.ts';
import { EPOCH, treeLayer } from './image-helpers.ts';

const MANIFEST = { acKind: 'ImageManifest', acVersion: '0.8.11', name: 'example.com/reuse' };

function aciImage(layer: AciImage['layers'][number], memo: OutputMemo): AciImage {
  return { layers: [layer], manifest: MANIFEST, os: 'linux', arch: 'amd64', mtime: EPOCH, memo };
}

test('an unchanged ACI is verified, not written again; any change writes it', async (t) => {
  const layer = await treeLayer(t, [['usr/bin/tool', { file: 'v1', mode: 0o755 }]]);
  const memo = new OutputMemo(join(tempDir(t), 'cache', 'images'));
  const image = aciImage(layer, memo);
  const out = join(tempDir(t), 'reuse.aci');
  const identity = () => {
    const s = statSync(out);
    return `${s.ino} ${s.mtimeMs}`;
  };

  const first = await writeAci(out, image);
  const written = identity();
  assert.deepEqual(await writeAci(out, image), first);
  assert.equal(identity(), written, 'the same inputs: the file is left as it is');
  assert.deepEqual(await writeAci(out, { ...image, memo: undefined }), first, 'and it is what a build gives');

  const rebuilt = identity();
  assert.deepEqual(await writeAci(out, image), first, 'a file written without the memo still verifies');
  assert.equal(identity(), rebuilt);

  appendFileSync(out, 'tampered');
  assert.deepEqual(await writeAci(out, image), first);
  assert.notEqual(identity(), rebuilt, 'a changed file is written again');

  const other = await writeAci(out, { ...image, mtime: EPOCH + 1 });
  assert.notEqual(other.imageId, first.imageId, 'other inputs: another image');
  assert.equal(readdirSync(memo.dir).length, 1, 'one record per output path');
});

test('a memo that cannot be written or read costs only the work', async (t) => {
  const layer = await treeLayer(t, [['etc/motd', 'hi']]);
  const blocked = join(tempDir(t), 'file');
  appendFileSync(blocked, 'not a folder');
  const memo = new OutputMemo(join(blocked, 'images'));
  const out = join(tempDir(t), 'x.aci');
  const image = aciImage(layer, memo);
  const { imageId } = await writeAci(out, image);
  assert.match(imageId, /^sha512-[0-9a-f]{128}$/);
  assert.deepEqual(await writeAci(out, image), { imageId });
});
