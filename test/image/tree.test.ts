import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  closeSync,
  lstatSync,
  lutimesSync,
  openSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { tarStream } from '../../src/image/tar.ts';
import { scanTree, treeDigest } from '../../src/image/tree.ts';
import { collect, gnuList, nodeList, run, tempDir, writeTree, type Node } from './helpers.ts';

// A small tree with one of everything scanTree handles, written in this order.
const FIXED: [string, Node][] = [
  ['README', 'hello\n'],
  ['bin/run', { file: '#!/bin/sh\necho hi\n', mode: 0o700 }],
  ['etc/conf', { file: 'a=1\n', mode: 0o640 }],
  ['etc/conf.bak', { hardlink: 'etc/conf' }],
  ['etc/current', { symlink: 'conf' }],
  ['var/empty', { dir: 0o700 }],
];
// Pinned: a change here changes the identity of every folder source.
const GOLDEN = 'sha256:8a7c5b48c18d025f4c1b6df8f0e8ad010429f8aa0539da319ccdc33ad62636a4';

const tarTo = async (root: string, file: string, normalizeModes: boolean) =>
  writeFileSync(file, await collect(tarStream(await scanTree(root, { normalizeModes }), { mtime: 0 })));

test('the digest of a fixed tree is pinned', async (t) => {
  const root = tempDir(t);
  writeTree(root, FIXED);
  assert.equal(await treeDigest(root), GOLDEN);
});

test('GNU tar, told to be deterministic, writes the very same bytes', async (t) => {
  const [root, out] = [tempDir(t), tempDir(t)];
  writeTree(root, FIXED);
  // GNU tar keeps modes as they are on disk, so put the normalized ones there.
  for (const e of await scanTree(root, { normalizeModes: true })) {
    if (e.type !== 'symlink') chmodSync(join(root, e.path), e.mode);
  }
  const gnu = join(out, 'gnu.tar');
  const flags = ['--format=ustar', '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0'];
  run('tar', [...flags, '-b', '1', '-C', root, '-cf', gnu, 'README', 'bin', 'etc', 'var']);
  const ours = await collect(tarStream(await scanTree(root, { normalizeModes: false }), { mtime: 0 }));
  assert.deepEqual(ours, readFileSync(gnu));
});

test('creation order, mtimes and umask do not change the digest; content does', async (t) => {
  const [a, b] = [tempDir(t), tempDir(t)];
  writeTree(a, FIXED);
  const old = process.umask(0o077);
  try {
    writeTree(b, [
      ['var/empty', { dir: 0o755 }],
      ['etc/current', { symlink: 'conf' }],
      ['etc/conf', 'a=1\n'],
      ['bin/run', { file: '#!/bin/sh\necho hi\n', mode: 0o750 }],
      ['etc/conf.bak', { hardlink: 'etc/conf' }],
      ['README', 'hello\n'],
    ]);
  } finally {
    process.umask(old);
  }
  assert.equal(statSync(join(b, 'README')).mode & 0o777, 0o600);
  for (const path of ['README', 'etc/current', 'etc', 'var/empty', 'bin/run']) {
    lutimesSync(join(b, path), 1e9, 1e9);
  }
  assert.equal(await treeDigest(b), await treeDigest(a));
  writeFileSync(join(b, 'README'), 'hellO\n');
  assert.notEqual(await treeDigest(b), await treeDigest(a));
});

test('entries are sorted bytewise with every parent folder and without the root', async (t) => {
  const root = tempDir(t);
  writeTree(root, [
    ['z', ''],
    ['é', ''],
    ['a/b', ''],
    ['a-c', ''],
    ['B', ''],
  ]);
  const entries = await scanTree(root, { normalizeModes: true });
  assert.deepEqual(
    entries.map((e) => e.path),
    ['B', 'a', 'a-c', 'a/b', 'z', 'é'],
  );
});

test('normalizeModes: files 0644 or 0755 when owner-executable, folders 0755, symlinks 0777', async (t) => {
  const root = tempDir(t);
  writeTree(root, [
    ['private', { file: '', mode: 0o600 }],
    ['group-exec', { file: '', mode: 0o610 }],
    ['owner-exec', { file: '', mode: 0o700 }],
    ['setuid', { file: '', mode: 0o4750 }],
    ['closed', { dir: 0o700 }],
    ['sticky', { dir: 0o1777 }],
    ['link', { symlink: 'private' }],
  ]);
  const modes = Object.fromEntries(
    (await scanTree(root, { normalizeModes: true })).map((e) => [e.path, e.mode]),
  );
  assert.deepEqual(modes, {
    closed: 0o755,
    'group-exec': 0o644,
    link: 0o777,
    'owner-exec': 0o755,
    private: 0o644,
    setuid: 0o755,
    sticky: 0o755,
  });
});

test('exact modes, setuid and sticky included, survive tar and extraction', async (t) => {
  const [root, out] = [tempDir(t), tempDir(t)];
  const modes: [string, number][] = [
    ['tmp', 0o1777],
    ['usr', 0o750],
    ['usr/bin', 0o2755],
    ['usr/bin/su', 0o4755],
    ['usr/secret', 0o600],
  ];
  writeTree(
    root,
    modes.map(([path, mode]) => [path, path.includes('/s') ? { file: '', mode } : { dir: mode }]),
  );
  const entries = await scanTree(root, { normalizeModes: false });
  assert.deepEqual(
    entries.map((e) => [e.path, e.mode]),
    modes,
  );
  const tarFile = join(out, 'exact.tar');
  await tarTo(root, tarFile, false);
  const listed = modes.map(([path, mode]) => [path.includes('/s') ? path : `${path}/`, mode]);
  assert.deepEqual(
    gnuList(tarFile).map((e) => [e.path, e.mode]),
    listed,
  );
  assert.deepEqual(
    (await nodeList(tarFile)).map((e) => [e.path, e.mode]),
    listed,
  );
  run('tar', ['-xpf', tarFile, '-C', out]);
  for (const [path, mode] of modes) assert.equal(statSync(join(out, path)).mode & 0o7777, mode, path);
});

test('symlinks and hardlinks round trip through tar -xf', async (t) => {
  const [root, out] = [tempDir(t), tempDir(t)];
  writeTree(root, [
    ['z-original', 'shared bytes'],
    ['a-link', { hardlink: 'z-original' }],
    ['d/up', { symlink: '../z-original' }],
    ['dangling', { symlink: 'nowhere/at all' }],
  ]);
  const entries = await scanTree(root, { normalizeModes: true });
  // The first path in sorted order holds the bytes, whatever was created first.
  assert.deepEqual(
    entries.find((e) => e.path === 'z-original'),
    {
      path: 'z-original',
      type: 'hardlink',
      mode: 0o644,
      target: 'a-link',
    },
  );
  const tarFile = join(out, 'links.tar');
  await tarTo(root, tarFile, true);
  run('tar', ['-xf', tarFile, '-C', out]);
  assert.equal(statSync(join(out, 'a-link')).ino, statSync(join(out, 'z-original')).ino);
  assert.equal(readFileSync(join(out, 'z-original'), 'utf8'), 'shared bytes');
  assert.equal(readlinkSync(join(out, 'd/up')), '../z-original');
  assert.equal(readFileSync(join(out, 'd/up'), 'utf8'), 'shared bytes');
  assert.equal(readlinkSync(join(out, 'dangling')), 'nowhere/at all');
});

test('FIFOs, sockets and names that are not UTF-8 are rejected, naming the path', async (t) => {
  const root = tempDir(t);
  spawnSync('mkfifo', [join(root, 'pipe')]);
  assert.ok(lstatSync(join(root, 'pipe')).isFIFO(), 'mkfifo (coreutils) is needed');
  await assert.rejects(scanTree(root, { normalizeModes: true }), {
    message: `${join(root, 'pipe')} is a FIFO; only regular files, folders and symlinks can be packed`,
  });

  const other = tempDir(t);
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(join(other, 'sock'), resolve));
  t.after(() => server.close());
  await assert.rejects(treeDigest(other), /sock is a socket/);

  const latin1 = tempDir(t);
  writeFileSync(Buffer.concat([Buffer.from(`${latin1}/caf`), Buffer.from([0xe9])]), '');
  await assert.rejects(treeDigest(latin1), /is not valid UTF-8/);
});

test('a file that changes size between scan and pack fails the archive', async (t) => {
  const root = tempDir(t);
  writeTree(root, [
    ['grows', 'hello'],
    ['shrinks', 'hello'],
  ]);
  const grown = await scanTree(root, { normalizeModes: true });
  appendFileSync(join(root, 'grows'), ' world');
  await assert.rejects(collect(tarStream(grown, { mtime: 0 })), /grows: expected 5 bytes but read more/);
  writeFileSync(join(root, 'shrinks'), 'hi');
  const entries = (await scanTree(root, { normalizeModes: true })).filter((e) => e.path === 'shrinks');
  writeFileSync(join(root, 'shrinks'), 'h');
  await assert.rejects(
    collect(tarStream(entries, { mtime: 0 })),
    /shrinks: expected 2 bytes but read only 1/,
  );
});

test('a 200 MiB file is streamed, not held in memory', async (t) => {
  const root = tempDir(t);
  const size = 200 * 1024 * 1024;
  const fd = openSync(join(root, 'big'), 'w');
  // Sparse, with real data at the ends and every 16 MiB, so reads are not all one kind of page.
  for (let at = 0; at < size; at += 16 * 1024 * 1024)
    writeSync(fd, Buffer.alloc(4096, at % 251), 0, 4096, at);
  writeSync(fd, Buffer.from('end'), 0, 3, size - 3);
  closeSync(fd);

  const before = process.memoryUsage().rss;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
  let total = 0;
  try {
    for await (const chunk of tarStream(await scanTree(root, { normalizeModes: true }), { mtime: 0 })) {
      total += (chunk as Buffer).length;
      peak = Math.max(peak, process.memoryUsage().rss);
    }
    assert.match(await treeDigest(root), /^sha256:[0-9a-f]{64}$/);
  } finally {
    clearInterval(timer);
  }
  assert.equal(total, 512 + size + 1024);
  const growth = (peak - before) / 2 ** 20;
  t.diagnostic(`rss grew by ${growth.toFixed(1)} MiB`); // 28-45 MiB measured (Node 20, Linux); buffering the file would be > 200
  assert.ok(growth < 100, `rss grew by ${growth.toFixed(1)} MiB while packing 200 MiB`);
});
