import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { packLayer, layerFromFile, LAYER_MEDIA_TYPE } from '../../src/image/layer.ts';
import { tarStream, type TarEntry } from '../../src/image/tar.ts';
import { scanTree } from '../../src/image/tree.ts';
import { collect, gnuList, nodeList, tempDir, writeTree } from './helpers.ts';
import { dir, EPOCH, file, sha256 } from './image-helpers.ts';

test('packLayer: one pass gives the blob digest, the diff_id and the size of what it wrote', async (t) => {
  const root = tempDir(t);
  writeTree(join(root, 'tree'), [
    ['usr/bin/tool', { file: '#!/bin/sh\necho hi\n', mode: 0o755 }],
    ['etc/conf', 'x=1\n'],
    ['usr/bin/alias', { symlink: 'tool' }],
  ]);
  const out = join(root, 'out', 'layer.tar.gz');
  const layer = await packLayer(await scanTree(join(root, 'tree'), { normalizeModes: false }), {
    mtime: EPOCH,
    file: out,
  });
  const gz = readFileSync(out);
  assert.equal(layer.digest, `sha256:${sha256(gz)}`);
  assert.equal(layer.diffId, `sha256:${sha256(gunzipSync(gz))}`);
  assert.equal(layer.size, gz.length);
  assert.equal(layer.mediaType, LAYER_MEDIA_TYPE);
  assert.equal(layer.file, out);
  assert.deepEqual(readdirSync(join(root, 'out')), ['layer.tar.gz']);

  writeFileSync(join(root, 'plain.tar'), gunzipSync(gz));
  assert.deepEqual(
    gnuList(join(root, 'plain.tar')).map(
      (e) => `${e.type}${e.mode.toString(8)} ${e.owner} ${e.mtime} ${e.path}`,
    ),
    [
      `d755 0/0 ${EPOCH} etc/`,
      `-644 0/0 ${EPOCH} etc/conf`,
      `d755 0/0 ${EPOCH} usr/`,
      `d755 0/0 ${EPOCH} usr/bin/`,
      `l777 0/0 ${EPOCH} usr/bin/alias`,
      `-755 0/0 ${EPOCH} usr/bin/tool`,
    ],
  );
});

test('packLayer: the same entries give the same bytes; the diff_id is the tar writer’s', async (t) => {
  const root = tempDir(t);
  const entries = (): TarEntry[] => [dir('a'), file('a/b', 'bee')];
  const one = await packLayer(entries(), { mtime: 0, file: join(root, '1.tgz') });
  const two = await packLayer(entries(), { mtime: 0, file: join(root, '2.tgz') });
  assert.deepEqual(readFileSync(join(root, '1.tgz')), readFileSync(join(root, '2.tgz')));
  assert.equal(one.digest, two.digest);
  assert.equal(one.diffId, `sha256:${sha256(await collect(tarStream(entries(), { mtime: 0 })))}`);
});

test('packLayer: a failure midway leaves nothing at the final name, and an earlier layer intact', async (t) => {
  const root = tempDir(t);
  const target = join(root, 'layer.tar.gz');
  writeFileSync(target, 'the old layer');
  const failing: TarEntry = {
    path: 'big',
    type: 'file',
    mode: 0o644,
    size: 1 << 20,
    open: () =>
      new Readable({
        read() {
          this.destroy(new Error('source vanished'));
        },
      }),
  };
  await assert.rejects(packLayer([dir('d'), failing], { mtime: 0, file: target }), /source vanished/);
  assert.equal(readFileSync(target, 'utf8'), 'the old layer');
  assert.deepEqual(readdirSync(root), ['layer.tar.gz']);

  await assert.rejects(packLayer([failing], { mtime: 0, file: join(root, 'new.tar.gz') }), /source vanished/);
  assert.equal(existsSync(join(root, 'new.tar.gz')), false);
  assert.deepEqual(readdirSync(root), ['layer.tar.gz']);
});

test('tar entries carry uid/gid (default 0); large ids go into PAX records', async (t) => {
  const root = tempDir(t);
  const entries: TarEntry[] = [
    { ...dir('srv'), uid: 1000, gid: 100 },
    { ...file('srv/a', 'a', 0o640), uid: 1000, gid: 1000 },
    { ...file('srv/big-ids', 'b'), uid: 3_000_000, gid: 4_000_000 },
    { path: 'srv/l', type: 'symlink', mode: 0o777, target: 'a', uid: 5 },
    file('srv/root', 'r'),
  ];
  const tarFile = join(root, 'x.tar');
  writeFileSync(tarFile, await collect(tarStream(entries, { mtime: 0 })));
  const owners = (list: { path: string; owner: string }[]) => list.map((e) => `${e.path} ${e.owner}`);
  const expected = [
    'srv/ 1000/100',
    'srv/a 1000/1000',
    'srv/big-ids 3000000/4000000',
    'srv/l 5/0',
    'srv/root 0/0',
  ];
  assert.deepEqual(owners(gnuList(tarFile)), expected);
  assert.deepEqual(owners(await nodeList(tarFile)), expected);
  for (const bad of [-1, 1.5, 2 ** 32]) {
    await assert.rejects(collect(tarStream([{ ...dir('d'), uid: bad }], { mtime: 0 })), /invalid uid/);
    await assert.rejects(collect(tarStream([{ ...dir('d'), gid: bad }], { mtime: 0 })), /invalid gid/);
  }
});

test('layerFromFile: a blob that is already a file opens fresh streams of it', async (t) => {
  const root = tempDir(t);
  const info = await packLayer([file('f', 'x')], { mtime: 0, file: join(root, 'l.tgz') });
  const layer = layerFromFile(join(root, 'l.tgz'), { ...info, createdBy: 'buildit sync ./f /f' });
  assert.equal(layer.createdBy, 'buildit sync ./f /f');
  assert.equal(layer.mediaType, LAYER_MEDIA_TYPE);
  assert.equal(layer.file, join(root, 'l.tgz'));
  const a = await collect(layer.open());
  const b = await collect(layer.open());
  assert.deepEqual(a, b);
  assert.equal(`sha256:${sha256(a)}`, info.digest);
});
