/**
 * Package graphs: build dependencies visible to dependents' builds, run
 * dependencies layered into images, identities that change exactly along
 * the graph, parallel builds, failures that keep what finished, container.lock.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { buildit, testEnv, type CliResult } from '../helpers/cli.ts';
import { testdir, writeFiles, type FileSpec } from '../helpers/testdir.ts';

const LIB = (word: string) => `description: a header-only library
build:
  - mkdir -p "$DESTDIR/usr/include"
  - echo '#define WORD "${word}"' > "$DESTDIR/usr/include/word.h"
`;
const PROG = (name: string) => `description: a program built against lib
source:
  - path: ./files/src
depends: { build: [dev-test/lib-1.0], run: [app-test/data-1.0] }
build:
  - cc -O2 -static -o ${name} main.c
  - install -D -m 0755 ${name} "$DESTDIR/usr/bin/${name}"
`;
const MAIN = '#include <stdio.h>\n#include <word.h>\nint main(void) { puts(WORD); return 0; }\n';

function graph(overrides: Record<string, FileSpec> = {}): { dir: string; ctr: string } {
  const dir = testdir({
    '.buildit-config.yaml': 'recipes: [./recipes]\n',
    'recipes/dev-test/lib/lib-1.0.yaml': LIB('hello'),
    'recipes/app-test/prog-a/prog-a-1.0.yaml': PROG('prog-a'),
    'recipes/app-test/prog-a/files/src/main.c': MAIN,
    'recipes/app-test/prog-b/prog-b-1.0.yaml': PROG('prog-b'),
    'recipes/app-test/prog-b/files/src/main.c': MAIN,
    'recipes/app-test/data/data-1.0.yaml':
      'build:\n  - mkdir -p "$DESTDIR/usr/share/data" && echo data > "$DESTDIR/usr/share/data/file"\n',
    'ctr/container.yaml': `- vars: { name: graph, version: "1" }
- package: { type: recipe, atom: app-test/prog-a-1.0 }
- package: { type: recipe, atom: app-test/prog-b-1.0 }
- image: { type: oci, content: '{ "Cmd": ["/usr/bin/prog-a"] }' }
`,
    ...overrides,
  });
  return { dir, ctr: path.join(dir, 'ctr') };
}

function packages(r: CliResult): Map<string, Record<string, unknown>> {
  return new Map(r.events.filter((e) => e['type'] === 'package').map((e) => [String(e['atom']), e]));
}

test('build dependencies are visible to builds; run dependencies go into the image; only the changed part of the graph rebuilds', async () => {
  const g = graph();
  const env = testEnv();
  const first = await buildit([g.ctr, '-o', path.join(g.dir, 'out'), '--json'], { env });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  const before = packages(first);
  assert.deepEqual([...before.keys()].sort(), [
    'app-test/data-1.0',
    'app-test/prog-a-1.0',
    'app-test/prog-b-1.0',
    'dev-test/lib-1.0',
  ]);
  // The image: data (prog-a's and prog-b's run dependency, once), prog-a, prog-b, the SBOM; lib is a build dependency only.
  const layout = path.join(g.dir, 'out/graph-1.oci');
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const manifestHex = String(index.manifests[0].digest).slice('sha256:'.length);
  const manifest = JSON.parse(readFileSync(path.join(layout, 'blobs/sha256', manifestHex), 'utf8'));
  assert.equal(manifest.layers.length, 4);

  writeFiles(g.dir, { 'recipes/dev-test/lib/lib-1.0.yaml': LIB('changed') });
  const second = await buildit([g.ctr, '-o', path.join(g.dir, 'out'), '--json'], { env });
  assert.equal(second.code, 0, second.stdout + second.stderr);
  const after = packages(second);
  for (const atom of ['dev-test/lib-1.0', 'app-test/prog-a-1.0', 'app-test/prog-b-1.0']) {
    assert.notEqual(after.get(atom)!['id'], before.get(atom)!['id'], atom);
    assert.equal(after.get(atom)!['source'], 'build', atom);
  }
  assert.equal(after.get('app-test/data-1.0')!['id'], before.get('app-test/data-1.0')!['id']);
  assert.equal(after.get('app-test/data-1.0')!['source'], 'store');
});

test('with -j2 independent builds overlap in time', async () => {
  const slow = (name: string) =>
    `build:\n  - sleep 1\n  - mkdir -p "$DESTDIR/usr/share/${name}" && echo ${name} > "$DESTDIR/usr/share/${name}/f"\n`;
  const g = graph({
    'recipes/app-test/slow-a/slow-a-1.0.yaml': slow('a'),
    'recipes/app-test/slow-b/slow-b-1.0.yaml': slow('b'),
    'ctr/container.yaml': `- vars: { name: slow, version: "1" }
- package: { type: recipe, atom: app-test/slow-a-1.0 }
- package: { type: recipe, atom: app-test/slow-b-1.0 }
- image: { type: oci, content: '{}' }
`,
  });
  const r = await buildit([g.ctr, '-o', path.join(g.dir, 'out'), '--json', '-j2'], { env: testEnv() });
  assert.equal(r.code, 0, r.stderr);
  const started = (atom: string) =>
    Number(r.events.find((e) => e['phase'] === 'build' && e['package'] === atom)!['time']);
  const ended = (atom: string) => Number(packages(r).get(atom)!['time']);
  const [a, b] = ['app-test/slow-a-1.0', 'app-test/slow-b-1.0'];
  assert.ok(started(b) < ended(a) && started(a) < ended(b), 'the two builds ran at the same time');
});

test('a failing build: its dependents are skipped, independent builds finish and are kept, every failure reported (exit 1)', async () => {
  const g = graph({ 'recipes/dev-test/lib/lib-1.0.yaml': 'build:\n  - echo broken >&2; exit 4\n' });
  const env = testEnv();
  const r = await buildit([g.ctr, '-o', path.join(g.dir, 'out'), '--json', '-j2'], { env });
  assert.equal(r.code, 1, r.stdout);
  const codes = r.events.filter((e) => e['type'] === 'error').map((e) => e['code']);
  assert.deepEqual(codes, ['BUILDIT_BUILD_FAILED', 'BUILDIT_BUILD_SKIPPED']);
  const skipped = r.events.find((e) => e['code'] === 'BUILDIT_BUILD_SKIPPED')!;
  assert.match(String(skipped['message']), /app-test\/prog-a-1\.0 \(needs dev-test\/lib-1\.0\)/);
  assert.match(String(skipped['message']), /app-test\/prog-b-1\.0 \(needs dev-test\/lib-1\.0\)/);
  assert.equal(packages(r).get('app-test/data-1.0')!['source'], 'build');
  // What finished is kept: the next run takes data from the store.
  const again = await buildit(['plan', g.ctr, '--json'], { env });
  assert.equal(packages(again).get('app-test/data-1.0')!['source'], 'store');
});

test('container.lock records every identity; --frozen fails when it would change, before building', async () => {
  const g = graph();
  const env = testEnv();
  const out = path.join(g.dir, 'out');
  const first = await buildit([g.ctr, '-o', out, '--json'], { env });
  assert.equal(first.code, 0, first.stderr);
  const lock = JSON.parse(readFileSync(path.join(g.ctr, 'container.lock'), 'utf8'));
  assert.equal(lock.schema, 'buildit-lock/v1');
  assert.deepEqual(
    lock.packages.map((p: { atom: string; id: string }) => [p.atom, p.id]).sort(),
    [...packages(first)].map(([atom, e]) => [atom, e['id']]).sort(),
  );
  const frozen = await buildit([g.ctr, '-o', out, '--json', '--frozen'], { env });
  assert.equal(frozen.code, 0, frozen.stderr);
  writeFiles(g.dir, { 'recipes/dev-test/lib/lib-1.0.yaml': LIB('other') });
  const refused = await buildit([g.ctr, '-o', out, '--json', '--frozen'], { env });
  assert.equal(refused.code, 2);
  assert.equal(refused.events.find((e) => e['type'] === 'error')!['code'], 'BUILDIT_LOCK_FROZEN');
  assert.equal(refused.events.filter((e) => e['phase'] === 'build').length, 0, 'nothing was built');
  const updated = await buildit([g.ctr, '-o', out, '--json'], { env });
  assert.equal(updated.code, 0);
  assert.notDeepEqual(JSON.parse(readFileSync(path.join(g.ctr, 'container.lock'), 'utf8')), lock);
});

test('a remote patch is pinned on first fetch; changed bytes later are an error naming both digests', async () => {
  let patch =
    '--- a/main.c\n+++ b/main.c\n@@ -1,3 +1,3 @@\n #include <stdio.h>\n #include <word.h>\n-int main(void) { puts(WORD); return 0; }\n+int main(void) { puts(WORD); puts("patched"); return 0; }\n';
  const server = http.createServer((_req, res) => res.end(patch));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/fix.patch`;
    const g = graph({
      'ctr/container.yaml': `- vars: { name: graph, version: "1" }\n- package: { type: embedded, path: ./pkgs/a }\n- image: { type: oci, content: '{}' }\n`,
      'ctr/pkgs/a/pkg.yaml': `base: app-test/prog-a-1.0\npatches:\n  ${url}: "prints patched"\n`,
    });
    const first = await buildit([g.ctr, '-o', path.join(g.dir, 'out'), '--json'], { env: testEnv() });
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const lock = JSON.parse(readFileSync(path.join(g.ctr, 'container.lock'), 'utf8'));
    const pinned = lock.distfiles[url];
    assert.match(pinned, /^[0-9a-f]{64}$/);
    patch = patch.replace('"patched"', '"tampered"');
    const second = await buildit([g.ctr, '-o', path.join(g.dir, 'out2'), '--json'], { env: testEnv() });
    assert.equal(second.code, 1, second.stdout);
    const error = second.events.find((e) => e['type'] === 'error')!;
    assert.equal(error['code'], 'BUILDIT_FETCH_SHA256');
    assert.match(String(error['message']), new RegExp(`expected sha256 ${pinned}, got [0-9a-f]{64}`));
  } finally {
    server.close();
  }
});

test('several versions and flag choices of one package coexist in one store, each its own identity', async () => {
  const g = graph({
    'recipes/dev-test/lib/lib-2.0.yaml': LIB('two'),
    'recipes/app-test/data/data-1.0.yaml':
      'use:\n  big: { default: false, enable: [BIG=1] }\nbuild:\n  - mkdir -p "$DESTDIR/usr/share/data" && echo "data $BUILDIT_USE_BIG" > "$DESTDIR/usr/share/data/file"\n',
    'one/container.yaml': `- vars: { name: one, version: "1" }\n- package: { type: recipe, atom: dev-test/lib-1.0 }\n- package: { type: recipe, atom: app-test/data-1.0 }\n- image: { type: oci, content: '{}' }\n`,
    'two/container.yaml': `- vars: { name: two, version: "1" }\n- package: { type: recipe, atom: dev-test/lib-2.0 }\n- package: { type: recipe, atom: app-test/data-1.0, use: { with: [big] } }\n- image: { type: oci, content: '{}' }\n`,
  });
  const env = testEnv();
  const one = await buildit([path.join(g.dir, 'one'), '-o', path.join(g.dir, 'out'), '--json'], { env });
  const two = await buildit([path.join(g.dir, 'two'), '-o', path.join(g.dir, 'out'), '--json'], { env });
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  const ids = [...packages(one).values(), ...packages(two).values()].map((e) => e['id']);
  assert.equal(new Set(ids).size, 4, 'four distinct identities');
  for (const dir of ['one', 'two']) {
    const plan = await buildit(['plan', path.join(g.dir, dir), '--json'], { env });
    assert.deepEqual(
      [...packages(plan).values()].map((e) => e['source']),
      ['store', 'store'],
      dir,
    );
  }
});
