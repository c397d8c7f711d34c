import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createReadStream, linkSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { BuilditError } from '../../src/errors.ts';
import { packLayer } from '../../src/image/layer.ts';
import {
  inventoryArtifact,
  inventoryTree,
  missingLibraries,
  type LibraryInventory,
} from '../../src/image/libraries.ts';
import { scanTree } from '../../src/image/tree.ts';
import { runTool } from '../helpers/tools.ts';
import { testdir } from '../helpers/testdir.ts';

// A package's DESTDIR: a library, a program that needs it, a static program, and what is no ELF
// or no ELF to understand, all built once for the whole file.
const src = testdir({
  'demo.c': '#include <string.h>\nint demo(const char *s) { return (int)strlen(s); }\n',
  'prog.c':
    '#include <stdio.h>\nint demo(const char *s);\nint main(void) { puts("hi"); return demo("x"); }\n',
  'static.c': 'int main(void) { return 0; }\n',
});
const root = testdir({
  'usr/share/doc/demo/README': 'demo\n',
  'usr/lib/tiny': '\x7fEL',
  'usr/lib/libdemo.so.1': { symlink: 'libdemo.so.1.0' },
  'usr/lib/libc-outside.so.6': { symlink: '/lib/x86_64-linux-gnu/libc.so.6' },
});

const EXPECTED: LibraryInventory = {
  provides: [{ soname: 'libdemo.so.1', path: '/usr/lib/libdemo.so.1.0' }],
  needs: [
    { path: '/usr/bin/prog', library: 'libc.so.6' },
    { path: '/usr/bin/prog', library: 'libdemo.so.1' },
    { path: '/usr/bin/prog-hardlink', library: 'libc.so.6' },
    { path: '/usr/bin/prog-hardlink', library: 'libdemo.so.1' },
    { path: '/usr/lib/libdemo.so.1.0', library: 'libc.so.6' },
  ],
};

before(() => {
  const cc = (...args: string[]) => runTool('cc', args, { cwd: src });
  mkdirSync(join(root, 'usr/bin'));
  const so = join(root, 'usr/lib/libdemo.so.1.0');
  cc('-shared', '-fPIC', '-Wl,-soname,libdemo.so.1', '-o', so, 'demo.c');
  cc('-o', join(root, 'usr/bin/prog'), 'prog.c', so);
  cc('-static', '-o', join(root, 'usr/bin/static'), 'static.c');
  linkSync(join(root, 'usr/bin/prog'), join(root, 'usr/bin/prog-hardlink'));
  const library = readFileSync(so);
  writeFileSync(join(root, 'usr/lib/libcut.so.1'), library.subarray(0, 200)); // inside the program headers
  writeFileSync(
    join(root, 'usr/lib/garbage.so'),
    Buffer.concat([Buffer.from('\x7fELF', 'latin1'), Buffer.alloc(8192, 0xa5)]),
  );
  // Bigger than any chunk: the artifact reader must skip it whole and find the entries after it.
  writeFileSync(join(root, 'usr/lib/aaa-data.bin'), Buffer.alloc(3 << 20, 0x17));
});

test('inventoryTree: sonames provided, needs per file, symlinks not followed, garbage ignored', async () => {
  assert.deepEqual(await inventoryTree(root), EXPECTED);
});

test('inventoryTree: a FIFO in the tree is no file to read, and does not hang', async () => {
  const tree = testdir({ 'lib/readme': 'hi\n' });
  spawnSync('mkfifo', [join(tree, 'lib/pipe')]);
  assert.deepEqual(await inventoryTree(tree), { provides: [], needs: [] });
});

test('inventoryArtifact: the artifact packed from the tree gives the same inventory', async () => {
  const work = testdir();
  const file = join(work, 'artifact.tar.gz');
  await packLayer(await scanTree(root, { normalizeModes: false }), { mtime: 0, file });
  const scratch = testdir();
  assert.deepEqual(await inventoryArtifact(() => createReadStream(file), scratch), EXPECTED);
  assert.deepEqual(readdirSync(scratch), [], 'each spooled file is deleted');
});

test("inventoryArtifact: GNU tar's './usr/…' names become image paths", async () => {
  const file = join(testdir(), 'gnu.tar.gz');
  runTool('tar', ['-czf', file, '-C', root, '.']);
  assert.deepEqual(await inventoryArtifact(() => createReadStream(file), testdir()), EXPECTED);
});

test('inventoryArtifact: a later entry at a path replaces the earlier one', async () => {
  const second = testdir({ 'usr/lib/libdemo.so.1.0': 'not a library any more\n' });
  const tar = join(testdir(), 'twice.tar');
  runTool('tar', ['-cf', tar, '-C', root, 'usr/lib/libdemo.so.1.0', 'usr/bin/prog']);
  runTool('tar', ['-rf', tar, '-C', second, 'usr/lib/libdemo.so.1.0']);
  const gz = gzipSync(readFileSync(tar));
  assert.deepEqual(await inventoryArtifact(() => Readable.from([gz]), testdir()), {
    provides: [],
    needs: EXPECTED.needs.filter((n) => n.path === '/usr/bin/prog'),
  });
});

test('inventoryArtifact: a damaged or truncated artifact is BUILDIT_ARTIFACT_CORRUPT', async () => {
  const file = join(testdir(), 'artifact.tar.gz');
  await packLayer(await scanTree(root, { normalizeModes: false }), { mtime: 0, file });
  const good = readFileSync(file);
  const flipped = Buffer.from(good);
  for (let at = 5000; at < 5100; at++) flipped[at] = flipped[at]! ^ 0xff;
  const damaged: [string, Buffer][] = [
    ['flipped', flipped],
    ['not gzip', Buffer.from('hello\n')],
  ];
  // Cut at each eighth: mostly inside ELF bodies, the bulk of the artifact, while they are spooled.
  for (let i = 1; i < 8; i++) {
    const at = Math.floor((good.length * i) / 8);
    damaged.push([`cut at ${at} of ${good.length}`, good.subarray(0, at)]);
  }
  for (const [what, bytes] of damaged) {
    const reading = inventoryArtifact(() => Readable.from([bytes]), testdir());
    const error = await withinSeconds(5, reading).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(error instanceof BuilditError, `${what}: ${String(error)}`);
    assert.equal(error.code, 'BUILDIT_ARTIFACT_CORRUPT', what);
  }
});

test('inventoryArtifact: a missing artifact file is an I/O error, not a corrupt artifact', async () => {
  const missing = join(testdir(), 'missing.tar.gz');
  await assert.rejects(
    inventoryArtifact(() => createReadStream(missing), testdir()),
    (error: unknown) => {
      assert.ok(!(error instanceof BuilditError));
      assert.equal(((error as Error).cause as NodeJS.ErrnoException).code, 'ENOENT');
      return true;
    },
  );
});

test('missingLibraries: needs nothing provides, deduplicated and sorted by path then library', () => {
  const needs = [
    { path: '/usr/bin/b', library: 'libz.so.1' },
    { path: '/usr/bin/a', library: 'libssl.so.3' },
    { path: '/usr/bin/a', library: 'libc.so.6' },
    { path: '/usr/bin/b', library: 'libz.so.1' },
    { path: '/usr/bin/a', library: 'libcrypto.so.3' },
    { path: '/usr/bin/B', library: 'libz.so.1' },
  ];
  const table: [string[], { path: string; library: string }[]][] = [
    [
      ['libc.so.6', 'libz.so.1'],
      [
        { path: '/usr/bin/a', library: 'libcrypto.so.3' },
        { path: '/usr/bin/a', library: 'libssl.so.3' },
      ],
    ],
    [
      ['libc.so.6', 'libssl.so.3', 'libcrypto.so.3'],
      [
        { path: '/usr/bin/B', library: 'libz.so.1' },
        { path: '/usr/bin/b', library: 'libz.so.1' },
      ],
    ],
    [['libc.so.6', 'libz.so.1', 'libssl.so.3', 'libcrypto.so.3'], []],
  ];
  for (const [provided, expected] of table) {
    assert.deepEqual(missingLibraries(needs, new Set(provided)), expected, provided.join(' '));
  }
  assert.deepEqual(missingLibraries([], new Set()), []);
});

/**
 * `promise`, or a failure after `seconds`: a reader waiting on a body that will never end leaves
 * nothing in the event loop, and node:test would only say the test was cancelled.
 */
async function withinSeconds<T>(seconds: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${seconds} s (hung)`)), seconds * 1000);
  });
  try {
    return await Promise.race([promise, hang]);
  } finally {
    clearTimeout(timer);
  }
}
