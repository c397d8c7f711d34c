import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { prepareSources } from '../../src/build/sources.ts';
import { BuilditError } from '../../src/errors.ts';
import type { PackageNode, ResolvedPatch, ResolvedSource } from '../../src/recipe/types.ts';
import { LocalStore } from '../../src/store/store.ts';
import { requireTool } from '../helpers/tools.ts';
import { testdir } from '../helpers/testdir.ts';

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** A tarball made by GNU tar from files: what an upstream would publish. */
function tarball(files: Record<string, string>, flags = '-czf'): Buffer {
  requireTool('tar');
  const dir = testdir(files);
  const out = path.join(testdir(), 'out');
  execFileSync('tar', [flags, out, '-C', dir, ...new Set(Object.keys(files).map((f) => f.split('/')[0]!))]);
  return readFileSync(out);
}

const MAIN = 'int main(void) { return 0; }\n';
const TARBALL = tarball({ 'app-1.0/main.c': MAIN, 'app-1.0/Makefile': 'all:\n\tcc main.c\n' });
const FIX =
  '--- a/main.c\n+++ b/main.c\n@@ -1 +1 @@\n-int main(void) { return 0; }\n+int main(void) { return 7; }\n';
const LOCAL = '--- a/Makefile\n+++ b/Makefile\n@@ -1,2 +1,2 @@\n all:\n-\tcc main.c\n+\tcc -O2 main.c\n';
const DATA = 'just some data, not an archive\n';

async function upstream(
  files: Record<string, string | Buffer>,
): Promise<{ base: string; hits: Map<string, number>; close: () => Promise<void> }> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    hits.set(req.url ?? '', (hits.get(req.url ?? '') ?? 0) + 1);
    const body = files[req.url ?? ''];
    if (body === undefined) res.statusCode = 404;
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const at = { file: '/recipes/app-misc/app/app-1.0.yaml', line: 5, col: 5 };

/** prepareSources reads a node's sources and patches; the rest of the graph does not matter here. */
function nodeWith(sources: ResolvedSource[], patches: ResolvedPatch[]): PackageNode {
  return {
    key: 'app-misc/app-1.0',
    atom: { category: 'app-misc', name: 'app', version: '1.0' },
    sources,
    patches,
  } as unknown as PackageNode;
}

async function failsWith(promise: Promise<unknown>, code: string, exitCode: 1 | 2): Promise<BuilditError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BuilditError, `expected a BuilditError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.exitCode, exitCode);
    return error;
  }
  assert.fail(`expected ${code}`);
}

test('folder source + url tarball + url file, a remote patch pinned on first use and a local one', async (t) => {
  requireTool('patch');
  const server = await upstream({ '/app-1.0.tar.gz': TARBALL, '/fix.patch': FIX, '/data.txt': DATA });
  t.after(server.close);
  const folder = testdir({
    'extra/notes.txt': 'notes\n',
    'tools/gen.sh': { content: '#!/bin/sh\n', mode: 0o700 },
  });
  const patches = testdir({ 'local.patch': LOCAL });
  const store = new LocalStore(testdir());
  const fixUrl = `${server.base}/fix.patch`;
  const sources: ResolvedSource[] = [
    { kind: 'path', path: folder, type: 'dir', sha256: 'f'.repeat(64), strip: 0, location: at },
    { kind: 'url', url: `${server.base}/app-1.0.tar.gz`, sha256: sha(TARBALL), strip: 1, location: at },
    {
      kind: 'url',
      url: `${server.base}/data.txt`,
      sha256: sha(DATA),
      strip: 1,
      filename: 'data.dat',
      location: at,
    },
  ];
  const remote: ResolvedPatch = { kind: 'url', ref: fixUrl, sha256: undefined, strip: 1, location: at };
  const local: ResolvedPatch = {
    kind: 'file',
    ref: path.join(patches, 'local.patch'),
    sha256: sha(LOCAL),
    strip: 1,
    location: at,
  };

  const srcDir = path.join(testdir(), 'src');
  const fetched: string[] = [];
  const first = await prepareSources(store, nodeWith(sources, [remote, local]), srcDir, {
    onFetch: (url) => fetched.push(url),
  });
  assert.deepEqual([...first.pinned], [[fixUrl, sha(FIX)]]);
  assert.deepEqual(fetched, [`${server.base}/app-1.0.tar.gz`, `${server.base}/data.txt`, fixUrl]);
  assert.deepEqual(readdirSync(srcDir).sort(), ['Makefile', 'data.dat', 'extra', 'main.c', 'tools']);
  assert.equal(readFileSync(path.join(srcDir, 'main.c'), 'utf8'), 'int main(void) { return 7; }\n');
  assert.match(readFileSync(path.join(srcDir, 'Makefile'), 'utf8'), /cc -O2 main\.c/);
  assert.equal(readFileSync(path.join(srcDir, 'data.dat'), 'utf8'), DATA);
  assert.equal(readFileSync(path.join(srcDir, 'extra/notes.txt'), 'utf8'), 'notes\n');
  assert.equal(statSync(path.join(srcDir, 'tools/gen.sh')).mode & 0o777, 0o755);
  // The local patch went through the store, checked against its identity's sha256.
  assert.ok(await store.hasBlob(sha(LOCAL)));

  // Pinned now (as container.lock would say): everything comes from the store.
  const again = path.join(testdir(), 'src');
  fetched.length = 0;
  const second = await prepareSources(
    store,
    nodeWith(sources, [{ ...remote, sha256: sha(FIX) }, local]),
    again,
    {
      onFetch: (url) => fetched.push(url),
    },
  );
  assert.equal(second.pinned.size, 0);
  assert.deepEqual(fetched, []);
  assert.deepEqual([...server.hits].sort(), [
    ['/app-1.0.tar.gz', 1],
    ['/data.txt', 1],
    ['/fix.patch', 1],
  ]);
  assert.equal(readFileSync(path.join(again, 'main.c'), 'utf8'), 'int main(void) { return 7; }\n');
});

test('a pinned remote patch whose bytes changed upstream fails and nothing is unpacked', async (t) => {
  const server = await upstream({ '/app-1.0.tar.gz': TARBALL, '/fix.patch': FIX.replace('7', '8') });
  t.after(server.close);
  const store = new LocalStore(testdir());
  const srcDir = path.join(testdir(), 'src');
  const node = nodeWith(
    [{ kind: 'url', url: `${server.base}/app-1.0.tar.gz`, sha256: sha(TARBALL), strip: 1, location: at }],
    [{ kind: 'url', ref: `${server.base}/fix.patch`, sha256: sha(FIX), strip: 1, location: at }],
  );
  const error = await failsWith(prepareSources(store, node, srcDir), 'BUILDIT_FETCH_SHA256', 1);
  assert.match(error.message, new RegExp(sha(FIX)));
  assert.deepEqual(error.location, at, 'the error points at where the patch is written');
  assert.throws(() => readdirSync(srcDir), /ENOENT/);
});

test('a local tarball source is unpacked from the verified bytes; a changed one is refused', async () => {
  const xz = tarball({ 'lib-2.0/lib.c': 'int f;\n' }, '-cJf');
  const dir = testdir();
  const file = path.join(dir, 'lib-2.0.tar.xz');
  await writeFile(file, xz);
  const store = new LocalStore(testdir());
  const srcDir = path.join(testdir(), 'src');
  const source: ResolvedSource = {
    kind: 'path',
    path: file,
    type: 'file',
    sha256: sha(xz),
    strip: 1,
    location: at,
  };
  await prepareSources(store, nodeWith([source], []), srcDir);
  assert.equal(readFileSync(path.join(srcDir, 'lib.c'), 'utf8'), 'int f;\n');

  const changed = { ...source, sha256: sha('what the identity was computed from') };
  const error = await failsWith(
    prepareSources(store, nodeWith([changed], []), path.join(testdir(), 'src')),
    'BUILDIT_FETCH_SHA256',
    1,
  );
  assert.match(error.message, /lib-2\.0\.tar\.xz \(changed since it was hashed\)/);
});

test('a folder source with strip drops its first level', async () => {
  const folder = testdir({ 'app-3/src/a.c': 'a\n', 'app-3/README': 'r\n', 'loose.txt': 'skipped\n' });
  const srcDir = path.join(testdir(), 'src');
  const source: ResolvedSource = {
    kind: 'path',
    path: folder,
    type: 'dir',
    sha256: '0'.repeat(64),
    strip: 1,
    location: at,
  };
  await prepareSources(new LocalStore(testdir()), nodeWith([source], []), srcDir);
  assert.deepEqual(readdirSync(srcDir).sort(), ['README', 'src']);
});

test('a file name for a non-archive source that would leave the folder is an input error', async (t) => {
  const server = await upstream({ '/x/..%2F..%2Fevil': DATA, '/data.txt': DATA });
  t.after(server.close);
  const store = new LocalStore(testdir());
  const cases: ResolvedSource[] = [
    {
      kind: 'url',
      url: `${server.base}/data.txt`,
      sha256: sha(DATA),
      strip: 1,
      filename: '../evil',
      location: at,
    },
    { kind: 'url', url: `${server.base}/x/..%2F..%2Fevil`, sha256: sha(DATA), strip: 1, location: at },
  ];
  for (const source of cases) {
    const root = testdir();
    const error = await failsWith(
      prepareSources(store, nodeWith([source], []), path.join(root, 'src')),
      'BUILDIT_SOURCE_FILENAME',
      2,
    );
    assert.deepEqual(error.location, at);
    assert.deepEqual(readdirSync(root), ['src']);
    assert.deepEqual(readdirSync(path.join(root, 'src')), []);
  }
});
