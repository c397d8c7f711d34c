import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { gzipSync } from 'node:zlib';
import type { LayerBlob } from '../../src/image/layer.ts';
import { mergeLayers, planMerge, type MergeMode } from '../../src/image/merge.ts';
import type { TarEntry } from '../../src/image/tar.ts';
import { collect, tempDir, writeTree } from './helpers.ts';
import { bytesLayer, dir, entriesLayer, file, tool } from './image-helpers.ts';

/** "type mode uid:gid path [-> target] [= content]" for each merged entry. */
async function show(entries: TarEntry[]): Promise<string[]> {
  const out: string[] = [];
  for (const e of entries) {
    const target = e.type === 'symlink' || e.type === 'hardlink' ? ` -> ${e.target}` : '';
    const body = e.type === 'file' ? ` = ${(await collect(e.open())).toString()}` : '';
    out.push(`${e.type} ${e.mode.toString(8)} ${e.uid ?? 0}:${e.gid ?? 0} ${e.path}${target}${body}`);
  }
  return out;
}

async function merge(t: TestContext, layers: LayerBlob[], mode: MergeMode = 'rootfs') {
  const scratch = tempDir(t);
  const merged = await mergeLayers(layers, { scratch, mode });
  try {
    return { ...merged, shown: await show(merged.entries), scratch };
  } finally {
    await merged.close();
  }
}

test('rootfs: later layers win at the same path, parents are filled in', async (t) => {
  const base = await entriesLayer(t, [
    dir('etc'),
    file('etc/motd', 'old'),
    file('etc/keep', 'kept'),
    { ...dir('srv', 0o700), uid: 5, gid: 5 },
  ]);
  const top = await entriesLayer(t, [
    file('etc/motd', 'new', 0o600),
    dir('srv', 0o750),
    file('var/lib/x', 'x'),
  ]);
  const { shown, root } = await merge(t, [base, top]);
  assert.deepEqual(shown, [
    'dir 755 0:0 etc',
    'file 644 0:0 etc/keep = kept',
    'file 600 0:0 etc/motd = new',
    'dir 750 0:0 srv',
    'dir 755 0:0 var',
    'dir 755 0:0 var/lib',
    'file 644 0:0 var/lib/x = x',
  ]);
  assert.equal(root, undefined);
});

test('rootfs: a file over a folder takes the subtree away; a folder over a file replaces it', async (t) => {
  const one = await entriesLayer(t, [dir('a'), file('a/inner', 'gone'), file('b', 'was a file')]);
  const two = await entriesLayer(t, [file('a', 'now a file'), dir('b'), file('b/c', 'c')]);
  const { shown, scratch } = await merge(t, [one, two]);
  assert.deepEqual(shown, ['file 644 0:0 a = now a file', 'dir 755 0:0 b', 'file 644 0:0 b/c = c']);
  // One spool file per layer.
  assert.deepEqual(readdirSync(scratch).sort(), ['layer-0', 'layer-1']);
});

test('rootfs: a symlinked folder of an earlier layer is followed, as a runtime does', async (t) => {
  const one = await entriesLayer(t, [
    dir('usr'),
    dir('usr/lib'),
    { path: 'lib', type: 'symlink', mode: 0o777, target: 'usr/lib' },
    { path: 'abs', type: 'symlink', mode: 0o777, target: '/usr/../usr/lib' },
    { path: 'loop', type: 'symlink', mode: 0o777, target: 'loop' },
  ]);
  // Without entries for their folders, as hand-made tars often are.
  const two = await entriesLayer(t, [file('lib/libz.so', 'z'), file('abs/libc.so', 'c')]);
  const { shown } = await merge(t, [one, two]);
  assert.deepEqual(shown, [
    'symlink 777 0:0 abs -> /usr/../usr/lib',
    'symlink 777 0:0 lib -> usr/lib',
    'symlink 777 0:0 loop -> loop',
    'dir 755 0:0 usr',
    'dir 755 0:0 usr/lib',
    'file 644 0:0 usr/lib/libc.so = c',
    'file 644 0:0 usr/lib/libz.so = z',
  ]);
  // Only a path's parents are followed: a folder entry *at* a symlink's own path replaces the
  // symlink, as in moby's and containerd's unpackers (Lstat, then remove unless both are folders).
  const three = await entriesLayer(t, [dir('lib'), file('lib/x', 'x')]);
  assert.deepEqual((await merge(t, [one, three])).shown.slice(1, 3), [
    'dir 755 0:0 lib',
    'file 644 0:0 lib/x = x',
  ]);
  const four = await entriesLayer(t, [dir('d'), file('d/f', 'f')]);
  const five = await entriesLayer(t, [{ path: 'd', type: 'symlink', mode: 0o777, target: 'd' }]);
  const six = await entriesLayer(t, [file('d/g', 'g')]);
  await assert.rejects(merge(t, [four, five, six]), /layer 3 .*d\/g: too many levels of symbolic links/);
});

test('rootfs: folders over a file conflict with a clear message', async (t) => {
  const one = await entriesLayer(t, [file('etc', 'a file')]);
  const two = await entriesLayer(t, [file('etc/passwd', 'root:x:0:0')]);
  await assert.rejects(
    merge(t, [one, two]),
    /layer 2 \(sha256:[0-9a-f]{64}\): etc\/passwd: etc\/passwd: etc is a file, not a folder/,
  );
});

test('hardlinks survive merging; one whose target a later layer replaced becomes a file', async (t) => {
  const one = await entriesLayer(t, [
    dir('bin'),
    file('bin/busybox', 'bb', 0o755),
    { path: 'bin/ls', type: 'hardlink', mode: 0o755, target: 'bin/busybox' },
    { path: 'bin/sh', type: 'hardlink', mode: 0o755, target: 'bin/busybox' },
  ]);
  assert.deepEqual((await merge(t, [one])).shown, [
    'dir 755 0:0 bin',
    'file 755 0:0 bin/busybox = bb',
    'hardlink 755 0:0 bin/ls -> bin/busybox',
    'hardlink 755 0:0 bin/sh -> bin/busybox',
  ]);
  const two = await entriesLayer(t, [dir('bin'), file('bin/busybox', 'new bb', 0o755)]);
  assert.deepEqual((await merge(t, [one, two])).shown, [
    'dir 755 0:0 bin',
    'file 755 0:0 bin/busybox = new bb',
    'file 755 0:0 bin/ls = bb',
    'hardlink 755 0:0 bin/sh -> bin/ls',
  ]);
});

test('whiteouts: rootfs applies and drops them; layer keeps them for the layers below', async (t) => {
  const one = await entriesLayer(t, [
    dir('a'),
    file('a/x', 'x'),
    file('a/y', 'y'),
    dir('o'),
    file('o/old', 'old'),
  ]);
  const two = await entriesLayer(t, [
    dir('a'),
    file('a/.wh.x', ''),
    dir('o'),
    file('o/.wh..wh..opq', ''),
    file('o/new', 'new'),
  ]);
  assert.deepEqual((await merge(t, [one, two])).shown, [
    'dir 755 0:0 a',
    'file 644 0:0 a/y = y',
    'dir 755 0:0 o',
    'file 644 0:0 o/new = new',
  ]);
  assert.deepEqual((await merge(t, [one, two], 'layer')).shown, [
    'dir 755 0:0 a',
    'file 644 0:0 a/.wh.x = ',
    'file 644 0:0 a/y = y',
    'dir 755 0:0 o',
    'file 644 0:0 o/.wh..wh..opq = ',
    'file 644 0:0 o/new = new',
  ]);
});

test('layer mode invents no parent folders (they would override a lower layer’s)', async (t) => {
  const one = await entriesLayer(t, [file('tmp/a', 'a')]);
  const two = await entriesLayer(t, [file('tmp/b', 'b')]);
  assert.deepEqual((await merge(t, [one, two], 'layer')).shown, [
    'file 644 0:0 tmp/a = a',
    'file 644 0:0 tmp/b = b',
  ]);
});

test('layers from GNU tar: "./" names, the root entry, owners; devices and ".." refused', async (t) => {
  const dirPath = tempDir(t);
  writeTree(join(dirPath, 'tree'), [
    ['bin/app', { file: 'app', mode: 0o750 }],
    ['bin/link', { symlink: 'app' }],
  ]);
  const gz = (args: string[]) => gzipSync(execFileSync('tar', args));
  const layer = bytesLayer(
    gz([
      '--sort=name',
      '--owner=10',
      '--group=20',
      '--numeric-owner',
      '-C',
      join(dirPath, 'tree'),
      '-cf',
      '-',
      '.',
    ]),
  );
  const { shown, root } = await merge(t, [layer]);
  assert.deepEqual(shown, [
    'dir 755 10:20 bin',
    'file 750 10:20 bin/app = app',
    'symlink 777 10:20 bin/link -> app',
  ]);
  assert.equal(root?.uid, 10);

  mkdirSync(join(dirPath, 'fifo'));
  tool('mkfifo', [join(dirPath, 'fifo', 'p')]);
  const fifo = bytesLayer(gz(['-C', join(dirPath, 'fifo'), '-cf', '-', 'p']));
  await assert.rejects(merge(t, [fifo]), /layer 1 .*: p: FIFO entries cannot go into an image/);

  writeFileSync(join(dirPath, 'evil'), 'x');
  const climbing = bytesLayer(gz(['-C', dirPath, '--transform=s,^,../,', '-cf', '-', 'evil']));
  await assert.rejects(merge(t, [climbing]), /climbs out/);

  const notTar = bytesLayer(gzipSync(Buffer.from('this is not a tar archive'.repeat(40))));
  await assert.rejects(merge(t, [notTar]), /layer 1/);

  const empty = bytesLayer(gzipSync(Buffer.alloc(1024)));
  assert.deepEqual((await merge(t, [empty])).shown, []);
});

test('a layer whose stream fails midway fails the merge', async (t) => {
  const good = await entriesLayer(t, [file('big', Buffer.alloc(1 << 20, 1))]);
  const { brokenLayer } = await import('./image-helpers.ts');
  await assert.rejects(merge(t, [brokenLayer(good)]), /disk on fire/);
});

test('planMerge folds the smallest adjacent pairs until the limit holds', () => {
  assert.deepEqual(planMerge([5, 1, 1, 5], 4), [[0], [1], [2], [3]]);
  assert.deepEqual(planMerge([5, 1, 1, 5], 3), [[0], [1, 2], [3]]);
  assert.deepEqual(planMerge([5, 1, 1, 5], 2), [[0, 1, 2], [3]]);
  assert.deepEqual(planMerge([1, 9, 1, 9, 1], 3), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(planMerge([3, 3, 3, 3], 1), [[0, 1, 2, 3]]);
  assert.deepEqual(planMerge([], 100), []);
  assert.throws(() => planMerge([1], 0), /layer limit/);
});
