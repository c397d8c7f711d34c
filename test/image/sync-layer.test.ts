import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { syncEntries, type SyncItem } from '../../src/image/sync-layer.ts';
import type { TarEntry } from '../../src/image/tar.ts';
import { collect, tempDir, writeTree } from './helpers.ts';

const root = { uid: 0, gid: 0 };

/** "type mode uid:gid path [-> target]" per entry, easy to compare. */
function show(entries: TarEntry[]): string[] {
  return entries.map((e) => {
    const owner = `${e.uid ?? 0}:${e.gid ?? 0}`;
    const target = e.type === 'symlink' || e.type === 'hardlink' ? ` -> ${e.target}` : '';
    return `${e.type} ${e.mode.toString(8)} ${owner} ${e.path}${target}`;
  });
}

test('a file lands exactly at dest, under root-owned 0755 parents, with chmod and owner', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'nginx.conf'), 'worker_processes 1;\n');
  const item: SyncItem = {
    src: join(dir, 'nginx.conf'),
    isDir: false,
    dest: '/etc/nginx/nginx.conf',
    mode: 0o600,
    owner: { uid: 101, gid: 102 },
  };
  const entries = await syncEntries([item]);
  assert.deepEqual(show(entries), [
    'dir 755 0:0 etc',
    'dir 755 0:0 etc/nginx',
    'file 600 101:102 etc/nginx/nginx.conf',
  ]);
  const f = entries[2]!;
  assert.equal(f.type === 'file' && (await collect(f.open())).toString(), 'worker_processes 1;\n');
});

test('without chmod a file keeps its permission bits, setuid included', async (t) => {
  const dir = tempDir(t);
  writeTree(dir, [['su', { file: 'x', mode: 0o4750 }]]);
  const entries = await syncEntries([{ src: join(dir, 'su'), isDir: false, dest: '/bin/su', owner: root }]);
  assert.deepEqual(show(entries), ['dir 755 0:0 bin', 'file 4750 0:0 bin/su']);
});

test('a folder: its contents under dest, chmod on files, chmod+X on folders, links kept, owner on all of it', async (t) => {
  const dir = tempDir(t);
  writeTree(join(dir, 'site'), [
    ['index.html', { file: '<h1>hi</h1>', mode: 0o600 }],
    ['css', { dir: 0o700 }],
    ['css/main.css', { file: 'body{}', mode: 0o755 }],
    ['home.html', { symlink: 'index.html' }],
    ['same.html', { hardlink: 'index.html' }],
  ]);
  chmodSync(join(dir, 'site'), 0o700);
  const owner = { uid: 33, gid: 33 };
  const withMode = await syncEntries([
    { src: join(dir, 'site'), isDir: true, dest: '/srv/www/', mode: 0o640, owner },
  ]);
  assert.deepEqual(show(withMode), [
    'dir 755 0:0 srv',
    'dir 750 33:33 srv/www',
    'dir 750 33:33 srv/www/css',
    'file 640 33:33 srv/www/css/main.css',
    'symlink 777 33:33 srv/www/home.html -> index.html',
    'file 640 33:33 srv/www/index.html',
    'hardlink 640 33:33 srv/www/same.html -> srv/www/index.html',
  ]);

  const asIs = await syncEntries([{ src: join(dir, 'site'), isDir: true, dest: '/srv/www', owner: root }]);
  assert.deepEqual(show(asIs), [
    'dir 755 0:0 srv',
    'dir 700 0:0 srv/www',
    'dir 700 0:0 srv/www/css',
    'file 755 0:0 srv/www/css/main.css',
    'symlink 777 0:0 srv/www/home.html -> index.html',
    'file 600 0:0 srv/www/index.html',
    'hardlink 600 0:0 srv/www/same.html -> srv/www/index.html',
  ]);
});

test('chmod+X on folders: x wherever r is set', async (t) => {
  const dir = tempDir(t);
  writeTree(join(dir, 'd'), [['sub', { dir: 0o755 }]]);
  const modes = async (mode: number) =>
    show(await syncEntries([{ src: join(dir, 'd'), isDir: true, dest: '/d', mode, owner: root }]))[1];
  assert.equal(await modes(0o644), 'dir 755 0:0 d/sub');
  assert.equal(await modes(0o640), 'dir 750 0:0 d/sub');
  assert.equal(await modes(0o600), 'dir 700 0:0 d/sub');
  assert.equal(await modes(0o200), 'dir 200 0:0 d/sub');
});

test('a folder synced to "/" becomes the top level; several items share parents, the later wins', async (t) => {
  const dir = tempDir(t);
  writeTree(join(dir, 'rootfs'), [
    ['etc/motd', 'from the folder\n'],
    ['etc/hostname', 'box\n'],
  ]);
  writeFileSync(join(dir, 'motd'), 'from the file\n');
  const entries = await syncEntries([
    { src: join(dir, 'rootfs'), isDir: true, dest: '/', owner: root },
    { src: join(dir, 'motd'), isDir: false, dest: '/etc/motd', owner: { uid: 7, gid: 7 } },
  ]);
  assert.deepEqual(show(entries), ['dir 755 0:0 etc', 'file 644 0:0 etc/hostname', 'file 644 7:7 etc/motd']);
  const motd = entries[2]!;
  assert.equal(motd.type === 'file' && (await collect(motd.open())).toString(), 'from the file\n');
});

test('bad items are refused', async (t) => {
  const dir = tempDir(t);
  writeTree(dir, [
    ['f', 'x'],
    ['d', { dir: 0o755 }],
  ]);
  const f = join(dir, 'f');
  await assert.rejects(
    syncEntries([{ src: f, isDir: false, dest: 'etc/f', owner: root }]),
    /must be absolute/,
  );
  await assert.rejects(syncEntries([{ src: f, isDir: false, dest: '/etc/../f', owner: root }]), /climbs out/);
  await assert.rejects(
    syncEntries([{ src: f, isDir: false, dest: '/', owner: root }]),
    /cannot be synced to "\/"/,
  );
  await assert.rejects(
    syncEntries([{ src: join(dir, 'd'), isDir: false, dest: '/x', owner: root }]),
    /not a regular file/,
  );
  await assert.rejects(syncEntries([{ src: f, isDir: true, dest: '/x', owner: root }]), /not a folder/);
});
