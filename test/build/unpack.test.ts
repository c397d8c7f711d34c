import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { mkdir, readdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { Header, type HeaderData } from 'tar';
import { copyTree, detectArchive, unpackArchive } from '../../src/build/unpack.ts';
import { BuilditError } from '../../src/errors.ts';
import { requireTool } from '../helpers/tools.ts';
import { testdir } from '../helpers/testdir.ts';

type EntryTypeName = NonNullable<HeaderData['type']>;

interface Entry {
  path: string;
  type?: EntryTypeName;
  body?: string;
  mode?: number;
  linkpath?: string;
}

/** A tar written header by header, so that it can say anything a hostile archive may say. */
function tarOf(entries: Entry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const type = e.type ?? 'File';
    const header = new Header({
      path: e.path,
      type,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      size: type === 'File' ? body.length : 0,
      mtime: new Date(0),
      uid: 0,
      gid: 0,
      ...(e.linkpath === undefined ? {} : { linkpath: e.linkpath }),
      ...(type === 'CharacterDevice' || type === 'BlockDevice' ? { devmaj: 1, devmin: 3 } : {}),
    });
    const block = Buffer.alloc(512);
    header.encode(block, 0);
    blocks.push(block);
    if (type === 'File' && body.length > 0) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

const PKG: Entry[] = [
  { path: 'pkg-1.0/', type: 'Directory' },
  { path: 'pkg-1.0/README', body: 'hello\n' },
  { path: 'pkg-1.0/bin/', type: 'Directory', mode: 0o755 },
  { path: 'pkg-1.0/bin/run', body: '#!/bin/sh\n', mode: 0o755 },
  { path: 'pkg-1.0/private', body: 'x', mode: 0o600 },
  { path: 'pkg-1.0/suid', body: 'x', mode: 0o4755 },
  { path: 'pkg-1.0/link', type: 'SymbolicLink', linkpath: 'README' },
  { path: 'pkg-1.0/hard', type: 'Link', linkpath: 'pkg-1.0/README' },
  { path: 'loose-at-top', body: 'skipped by strip 1' },
];

/** An archive file named like a stored blob: by hash, without an extension. */
async function blob(data: Buffer): Promise<string> {
  const file = path.join(testdir(), 'ab12cd34');
  await writeFile(file, data);
  return file;
}

function compress(tool: 'xz' | 'bzip2' | 'zstd', data: Buffer): Buffer {
  requireTool(tool);
  return execFileSync(tool, ['-c'], { input: data });
}

async function refused(promise: Promise<unknown>, code: string, ...names: RegExp[]): Promise<BuilditError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BuilditError, `expected a BuilditError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.exitCode, 1);
    for (const name of names) assert.match(error.message, name);
    return error;
  }
  assert.fail(`expected ${code}`);
}

/** A dest folder inside a root that has nothing else: anything escaping shows up in the root. */
function arena(): { root: string; dest: string } {
  const root = testdir();
  return { root, dest: path.join(root, 'dest') };
}

async function outsideOf(root: string): Promise<string[]> {
  return (await readdir(root)).filter((name) => name !== 'dest').sort();
}

function checkPkg(dest: string): void {
  assert.equal(readFileSync(path.join(dest, 'README'), 'utf8'), 'hello\n');
  assert.equal(statSync(path.join(dest, 'bin/run')).mode & 0o7777, 0o755);
  assert.equal(statSync(path.join(dest, 'private')).mode & 0o7777, 0o600);
  assert.equal(statSync(path.join(dest, 'suid')).mode & 0o7777, 0o755, 'setuid is dropped');
  assert.equal(readlinkSync(path.join(dest, 'link')), 'README');
  assert.equal(statSync(path.join(dest, 'hard')).ino, statSync(path.join(dest, 'README')).ino);
  assert.equal(existsSync(path.join(dest, 'loose-at-top')), false);
  assert.equal(existsSync(path.join(dest, 'pkg-1.0')), false);
}

test('a tar with strip 1: paths lose their first folder, shallower entries are skipped, modes kept (not setuid)', async () => {
  const { dest } = arena();
  await unpackArchive(await blob(tarOf(PKG)), dest, 1, 'pkg-1.0.tar');
  checkPkg(dest);
});

test('strip 0 keeps the top folder; "./" counts as a component, as in GNU tar', async () => {
  const { dest } = arena();
  await unpackArchive(await blob(tarOf(PKG)), dest, 0, 'pkg.tar');
  assert.ok(existsSync(path.join(dest, 'pkg-1.0/README')));
  assert.ok(existsSync(path.join(dest, 'loose-at-top')));

  const dotted = arena();
  const archive = tarOf([
    { path: './', type: 'Directory' },
    { path: './pkg/', type: 'Directory' },
    { path: './pkg/a', body: 'a' },
  ]);
  await unpackArchive(await blob(archive), dotted.dest, 1, 'dotted.tar');
  assert.equal(readFileSync(path.join(dotted.dest, 'pkg/a'), 'utf8'), 'a');
});

test('gzip, xz and bzip2 archives are recognized by their bytes, not their names', async () => {
  const plain = tarOf(PKG);
  const variants: [string, Buffer][] = [
    ['gzip', gzipSync(plain)],
    ['xz', compress('xz', plain)],
    ['bzip2', compress('bzip2', plain)],
    ['zstd', compress('zstd', plain)],
    ['tar', plain],
  ];
  for (const [format, data] of variants) {
    const file = await blob(data);
    assert.equal(await detectArchive(file), format);
    const { dest } = arena();
    await unpackArchive(file, dest, 1, `pkg.${format}`);
    checkPkg(dest);
  }
  assert.equal(await detectArchive(await blob(Buffer.from('int main(void) { return 0; }\n'))), undefined);
});

test("modes are the archive's whatever the umask of the process", async () => {
  const { dest } = arena();
  const old = process.umask(0o077);
  try {
    await unpackArchive(
      await blob(tarOf([...PKG, { path: 'pkg-1.0/implicit/deep/file', body: 'x' }])),
      dest,
      1,
      'pkg.tar',
    );
  } finally {
    process.umask(old);
  }
  checkPkg(dest);
  assert.equal(statSync(path.join(dest, 'README')).mode & 0o7777, 0o644);
  assert.equal(statSync(path.join(dest, 'bin')).mode & 0o7777, 0o755);
  assert.equal(statSync(path.join(dest, 'implicit/deep')).mode & 0o7777, 0o755);
});

test('symlinks to symlinks and to files below a symlinked folder are fine when they stay inside', async () => {
  const { dest } = arena();
  const archive = tarOf([
    { path: 'p/c', body: 'c' },
    { path: 'p/c', type: 'Link', linkpath: 'p/c' }, // GNU tar, given a file twice
    { path: 'p/b', type: 'SymbolicLink', linkpath: 'c' },
    { path: 'p/a', type: 'SymbolicLink', linkpath: 'b' },
    { path: 'p/lib/', type: 'Directory' },
    { path: 'p/lib/libz.so.1.3', body: 'elf' },
    { path: 'p/lib64', type: 'SymbolicLink', linkpath: 'lib' },
    { path: 'p/libz.so', type: 'SymbolicLink', linkpath: 'lib64/libz.so.1.3' },
    { path: 'p/sub/up', type: 'SymbolicLink', linkpath: '../lib' },
    { path: 'p/replaced', type: 'SymbolicLink', linkpath: 'c' },
    { path: 'p/replaced', body: 'the last entry wins' },
    { path: 'p/became-link', body: 'first a file' },
    { path: 'p/became-link', type: 'SymbolicLink', linkpath: 'c' },
  ]);
  await unpackArchive(await blob(archive), dest, 1, 'chains.tar');
  assert.equal(readFileSync(path.join(dest, 'a'), 'utf8'), 'c');
  assert.equal(readFileSync(path.join(dest, 'libz.so'), 'utf8'), 'elf');
  assert.equal(readlinkSync(path.join(dest, 'sub/up')), '../lib');
  assert.equal(readFileSync(path.join(dest, 'replaced'), 'utf8'), 'the last entry wins');
  assert.ok(lstatSync(path.join(dest, 'replaced')).isFile());
  assert.equal(readlinkSync(path.join(dest, 'became-link')), 'c');
});

test('a GNU tar archive with long names, hardlinks and symlinks unpacks as GNU tar would', async () => {
  requireTool('tar');
  const long = `${'very-long-folder-name/'.repeat(8)}file.txt`;
  const work = testdir({
    [`pkg-2.1/${long}`]: 'long\n',
    'pkg-2.1/configure': { content: '#!/bin/sh\n', mode: 0o755 },
    'pkg-2.1/docs/link': { symlink: '../configure' },
  });
  execFileSync('ln', [path.join(work, 'pkg-2.1/configure'), path.join(work, 'pkg-2.1/hardlinked')]);
  const archive = path.join(testdir(), 'blob');
  execFileSync('tar', ['--format=gnu', '-czf', archive, '-C', work, 'pkg-2.1']);
  const { dest } = arena();
  await unpackArchive(archive, dest, 1, 'pkg-2.1.tar.gz');
  assert.equal(readFileSync(path.join(dest, long), 'utf8'), 'long\n');
  assert.equal(statSync(path.join(dest, 'configure')).mode & 0o7777, 0o755);
  assert.equal(statSync(path.join(dest, 'hardlinked')).ino, statSync(path.join(dest, 'configure')).ino);
  assert.equal(readlinkSync(path.join(dest, 'docs/link')), '../configure');
});

test('an entry with ".." is refused, naming the archive and the entry; nothing lands outside', async () => {
  const { root, dest } = arena();
  const archive = tarOf([
    { path: 'pkg/', type: 'Directory' },
    { path: 'pkg/../../evil', body: 'pwned' },
  ]);
  await refused(
    unpackArchive(await blob(archive), dest, 1, 'evil.tar'),
    'BUILDIT_UNPACK_UNSAFE',
    /evil\.tar/,
    /pkg\/\.\.\/\.\.\/evil/,
  );
  assert.deepEqual(await outsideOf(root), []);
  const plain = arena();
  await refused(
    unpackArchive(await blob(tarOf([{ path: '../evil', body: 'x' }])), plain.dest, 0, 'e.tar'),
    'BUILDIT_UNPACK_UNSAFE',
    /"\.\.\/evil"/,
  );
  assert.deepEqual(await outsideOf(plain.root), []);
});

test('an absolute path is refused', async () => {
  const { root, dest } = arena();
  const target = path.join(root, 'abs-evil');
  const archive = tarOf([
    { path: target, body: 'pwned' },
    { path: '/etc/evil-buildit-test', body: 'x' },
  ]);
  await refused(
    unpackArchive(await blob(archive), dest, 0, 'abs.tar'),
    'BUILDIT_UNPACK_UNSAFE',
    /absolute path/,
    new RegExp(target),
  );
  assert.deepEqual(await outsideOf(root), []);
  assert.equal(existsSync('/etc/evil-buildit-test'), false);
});

test('a symlink out of the folder, then a file through it, is refused at the symlink', async () => {
  const { root, dest } = arena();
  await mkdir(path.join(root, 'victim'));
  for (const link of [path.join(root, 'victim'), '../victim', 'a/../../victim']) {
    const archive = tarOf([
      { path: 'escape', type: 'SymbolicLink', linkpath: link },
      { path: 'escape/evil', body: 'pwned' },
    ]);
    await refused(
      unpackArchive(await blob(archive), dest, 0, 'link.tar'),
      'BUILDIT_UNPACK_UNSAFE',
      /"escape"/,
      /symlink/,
    );
    assert.deepEqual(await readdir(path.join(root, 'victim')), []);
    assert.equal(existsSync(path.join(dest, 'escape')), false);
  }
  const etc = arena();
  const toEtc = tarOf([
    { path: 'etc', type: 'SymbolicLink', linkpath: '/etc' },
    { path: 'etc/evil-buildit-test', body: 'x' },
  ]);
  await refused(
    unpackArchive(await blob(toEtc), etc.dest, 0, 'etc.tar'),
    'BUILDIT_UNPACK_UNSAFE',
    /"etc"/,
    /absolute/,
  );
  assert.equal(existsSync('/etc/evil-buildit-test'), false);
});

test('nothing is written through a symlink, even one that stays inside', async () => {
  const { dest } = arena();
  const archive = tarOf([
    { path: 'real/', type: 'Directory' },
    { path: 'alias', type: 'SymbolicLink', linkpath: 'real' },
    { path: 'alias/file', body: 'through' },
  ]);
  await refused(
    unpackArchive(await blob(archive), dest, 0, 'alias.tar'),
    'BUILDIT_UNPACK_UNSAFE',
    /"alias\/file"/,
    /through the symlink "alias"/,
  );
  assert.equal(existsSync(path.join(dest, 'real/file')), false);
});

test('a symlink already in the folder (from an earlier source) is not written through either', async () => {
  const { root, dest } = arena();
  await mkdir(path.join(root, 'victim'));
  await mkdir(dest);
  await symlink(path.join(root, 'victim'), path.join(dest, 'lib'));
  const archive = tarOf([{ path: 'pkg/lib/evil', body: 'pwned' }]);
  await refused(
    unpackArchive(await blob(archive), dest, 1, 'second.tar'),
    'BUILDIT_UNPACK_UNSAFE',
    /"pkg\/lib\/evil"/,
  );
  assert.deepEqual(await readdir(path.join(root, 'victim')), []);
});

test('symlinks chained to lead out are found once all is written', async () => {
  const { root, dest } = arena();
  const archive = tarOf([
    { path: 'd/e/', type: 'Directory' },
    { path: 'd/e/up', type: 'SymbolicLink', linkpath: '../..' }, // = the folder itself: fine alone
    { path: 'a', type: 'SymbolicLink', linkpath: 'd/e' },
    { path: 'l', type: 'SymbolicLink', linkpath: 'a/up/..' }, // reads as "a", resolves to dest/..
  ]);
  await refused(
    unpackArchive(await blob(archive), dest, 0, 'chain.tar'),
    'BUILDIT_UNPACK_UNSAFE',
    /"l"/,
    /through other symlinks/,
  );
  assert.deepEqual(await outsideOf(root), []);
});

test('a hardlink to a file outside is refused', async () => {
  for (const target of ['../outside', '/etc/passwd', 'pkg/../../outside']) {
    const { root, dest } = arena();
    await writeFile(path.join(root, 'outside'), 'secret');
    const archive = tarOf([{ path: 'pkg/h', type: 'Link', linkpath: target }]);
    await refused(
      unpackArchive(await blob(archive), dest, 0, 'hard.tar'),
      'BUILDIT_UNPACK_UNSAFE',
      /"pkg\/h"/,
      /hardlink/,
    );
    assert.equal(existsSync(path.join(dest, 'pkg/h')), false);
    assert.equal(statSync(path.join(root, 'outside')).nlink, 1);
  }
  // A hardlink whose target is outside what strip keeps.
  const { dest } = arena();
  const stripped = tarOf([
    { path: 'top', body: 'x' },
    { path: 'pkg/h', type: 'Link', linkpath: 'top' },
  ]);
  await refused(
    unpackArchive(await blob(stripped), dest, 1, 'strip.tar'),
    'BUILDIT_UNPACK_UNSAFE',
    /"pkg\/h"/,
  );
});

test('device nodes and FIFOs are refused', async () => {
  for (const type of ['CharacterDevice', 'BlockDevice', 'FIFO'] as const) {
    const { root, dest } = arena();
    const archive = tarOf([
      { path: 'pkg/', type: 'Directory' },
      { path: 'pkg/node', type, mode: 0o666 },
    ]);
    await refused(
      unpackArchive(await blob(archive), dest, 0, 'dev.tar'),
      'BUILDIT_UNPACK_UNSAFE',
      /"pkg\/node"/,
      type === 'FIFO' ? /FIFO/ : /device node/,
    );
    assert.equal(existsSync(path.join(dest, 'pkg/node')), false);
    assert.deepEqual(await outsideOf(root), []);
  }
});

test('corrupt archives: BUILDIT_UNPACK_CORRUPT; a file that is no archive: BUILDIT_UNPACK_FORMAT', async () => {
  const plain = tarOf(PKG);
  const gz = gzipSync(plain);
  const xz = compress('xz', plain);
  const cases: [string, Buffer, RegExp][] = [
    ['truncated gzip', gz.subarray(0, gz.length - 40), /corrupt/],
    [
      'garbage after a gzip magic',
      Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0]), Buffer.alloc(600, 7)]),
      /corrupt/,
    ],
    ['truncated xz', xz.subarray(0, Math.floor(xz.length / 2)), /xz: /],
    ['a gzip of text', gzipSync(Buffer.from('not a tar\n'.repeat(100))), /corrupt/],
    ['truncated tar', plain.subarray(0, 700), /corrupt/],
  ];
  for (const [what, data, message] of cases) {
    const { dest } = arena();
    const error = await refused(
      unpackArchive(await blob(data), dest, 1, what),
      'BUILDIT_UNPACK_CORRUPT',
      message,
    );
    assert.ok(error.message.includes(what), error.message);
  }
  const { dest } = arena();
  await refused(
    unpackArchive(await blob(Buffer.from('hello\n')), dest, 1, 'hello.c'),
    'BUILDIT_UNPACK_FORMAT',
    /hello\.c is not a tar archive/,
  );
});

test('copyTree copies files, folders and symlinks as they are (never followed), with identity modes', async () => {
  const outside = testdir({ 'secret.txt': 'outside' });
  const src = testdir({
    'main.c': { content: 'int main;\n', mode: 0o600 },
    configure: { content: '#!/bin/sh\n', mode: 0o700 },
    'sub/deep/file.txt': 'deep\n',
    'rel-link': { symlink: 'main.c' },
    'out-link': { symlink: path.join(outside, 'secret.txt') },
    'dir-link': { symlink: 'sub' },
  });
  const { root, dest } = arena();
  // Something from an earlier source is in the way: a symlink where a file goes.
  await mkdir(dest);
  await mkdir(path.join(root, 'victim'));
  await symlink(path.join(root, 'victim', 'main.c'), path.join(dest, 'main.c'));
  await symlink(path.join(root, 'victim'), path.join(dest, 'sub'));
  await copyTree(src, dest);

  assert.equal(readFileSync(path.join(dest, 'main.c'), 'utf8'), 'int main;\n');
  assert.ok(lstatSync(path.join(dest, 'main.c')).isFile());
  assert.equal(statSync(path.join(dest, 'main.c')).mode & 0o7777, 0o644);
  assert.equal(statSync(path.join(dest, 'configure')).mode & 0o7777, 0o755);
  assert.equal(statSync(path.join(dest, 'sub/deep')).mode & 0o7777, 0o755);
  assert.ok(lstatSync(path.join(dest, 'sub')).isDirectory());
  assert.equal(readFileSync(path.join(dest, 'sub/deep/file.txt'), 'utf8'), 'deep\n');
  assert.equal(readlinkSync(path.join(dest, 'rel-link')), 'main.c');
  assert.equal(readlinkSync(path.join(dest, 'out-link')), path.join(outside, 'secret.txt'));
  assert.equal(readlinkSync(path.join(dest, 'dir-link')), 'sub');
  assert.deepEqual(await readdir(path.join(root, 'victim')), []);
});
