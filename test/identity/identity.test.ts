/**
 * Identity v1 (SPEC §4) end to end through `buildit hash`: pinned golden
 * values, what must not change an identity and what must.
 */
import assert from 'node:assert/strict';
import { cpSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildit, testEnv } from '../helpers/cli.ts';
import {
  HELLO_PKG,
  HELLO_RECIPE,
  helloFixture,
  testdir,
  writeFiles,
  type FileSpec,
} from '../helpers/testdir.ts';

/** The fixture's identity with the toolchain pinned to "test-toolchain/1" on linux/amd64. */
const GOLDEN = '2dd48f47bca7aa434003736cee61ed2cde5551237f85cb8b76889e0977aecbd2';

async function idOf(
  overrides: Record<string, FileSpec> = {},
  extra: string[] = [],
  dir = helloFixture(overrides),
): Promise<string> {
  const r = await buildit(
    ['hash', path.join(dir, 'ctr/pkgs/hello'), '--json', '--target', 'linux/amd64', ...extra],
    { env: testEnv() },
  );
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const id = String(r.events[0]!['id']);
  assert.match(id, /^[0-9a-f]{64}$/);
  return id;
}

test('the fixture has its pinned identity', async () => {
  assert.equal(await idOf(), GOLDEN);
});

test('hash --json prints {id, preimage} and the pre-image hashes to the id', async () => {
  const r = await buildit([
    'hash',
    path.join(helloFixture(), 'ctr/pkgs/hello'),
    '--json',
    '--target',
    'linux/amd64',
  ]);
  const out = r.events[0]!;
  assert.deepEqual(Object.keys(out), ['id', 'preimage']);
  const { canonicalJson, sha256Hex } = await import('../../src/identity/canonical.ts');
  assert.equal(sha256Hex(canonicalJson(out['preimage'])), out['id']);
  const pre = out['preimage'] as Record<string, unknown>;
  assert.equal(pre['schema'], 'buildit-pkgid/v1');
  assert.deepEqual(pre['use'], { shout: true, motd: true });
  assert.equal(pre['toolchain'], 'test-toolchain/1');
  assert.deepEqual(pre['target'], { os: 'linux', arch: 'amd64' });
  assert.equal((pre['patches'] as unknown[]).length, 2);
});

test('hash --explain prints the pre-image, then the identity', async () => {
  const r = await buildit([
    'hash',
    path.join(helloFixture(), 'ctr/pkgs/hello'),
    '--explain',
    '--target',
    'linux/amd64',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"schema": "buildit-pkgid\/v1"/);
  assert.match(r.stdout, /RFC 8785/);
  assert.equal(r.stdout.trim().split('\n').at(-1), GOLDEN);
});

test('an atom hashes like the recipe it names, without the package changes', async () => {
  const dir = helloFixture();
  const r = await buildit(['hash', 'app-test/hello-1.0', '--json', '--target', 'linux/amd64'], {
    cwd: path.join(dir, 'ctr'),
  });
  assert.equal(r.code, 0, r.stderr);
  const pre = r.events[0]!['preimage'] as Record<string, unknown>;
  assert.deepEqual(pre['patches'], []);
  assert.deepEqual(pre['use'], { shout: false, motd: true });
  assert.notEqual(r.events[0]!['id'], GOLDEN);
});

const SAME: [string, Record<string, FileSpec>][] = [
  [
    'keys reordered in pkg.yaml',
    {
      'ctr/pkgs/hello/pkg.yaml': `use:\n  with: [shout]\npatches:\n  patches/one.patch: "first"\n  patches/two.patch: "second"\nauthor: Someone <someone@example.org>\nbase: app-test/hello-1.0\n`,
    },
  ],
  [
    'keys reordered in the recipe',
    {
      'recipes/app-test/hello/hello-1.0.yaml': `build:\n  - make\n  - make install DESTDIR=$DESTDIR\nenv: { CFLAGS: -O2 }\nuse:\n  motd: { disable: [MOTD=0], enable: [MOTD=1], default: true }\n  shout: { enable: [SHOUT=1], default: false }\nsource:\n  - path: ./files/src\nlicense: MIT\ndescription: test program\n`,
    },
  ],
  [
    'comments and whitespace',
    {
      'ctr/pkgs/hello/pkg.yaml': `# my nginx\n\n${HELLO_PKG.replace('use:\n  with: [shout]', 'use:\n    with:    [ shout ]   # loud')}\n\n`,
    },
  ],
  [
    'another author',
    { 'ctr/pkgs/hello/pkg.yaml': HELLO_PKG.replace('Someone <someone@example.org>', 'Somebody Else') },
  ],
  [
    'other patch descriptions',
    { 'ctr/pkgs/hello/pkg.yaml': HELLO_PKG.replace('"first"', '"the first fix"').replace('"second"', '') },
  ],
  [
    'recipe description, homepage and license',
    {
      'recipes/app-test/hello/hello-1.0.yaml': HELLO_RECIPE.replace('test program', 'other words').replace(
        'MIT',
        'Apache-2.0',
      ),
    },
  ],
  [
    'a flag listed in with: that is on by default anyway',
    { 'ctr/pkgs/hello/pkg.yaml': HELLO_PKG.replace('with: [shout]', 'with: [shout, motd]') },
  ],
  [
    'flag declaration order (use is a map)',
    {
      'recipes/app-test/hello/hello-1.0.yaml': HELLO_RECIPE.replace(
        '  shout: { default: false, enable: [SHOUT=1] }\n  motd: { default: true, enable: [MOTD=1], disable: [MOTD=0] }',
        '  motd: { default: true, enable: [MOTD=1], disable: [MOTD=0] }\n  shout: { default: false, enable: [SHOUT=1] }',
      ),
    },
  ],
];

for (const [name, overrides] of SAME) {
  test(`same identity: ${name}`, async () => {
    assert.equal(await idOf(overrides), GOLDEN);
  });
}

test('same identity: the container dir (with its recipes) moved elsewhere, file mtimes and modes differ', async () => {
  const from = helloFixture();
  const to = path.join(testdir(), 'somewhere', 'else');
  cpSync(from, to, { recursive: true, preserveTimestamps: false });
  const { chmodSync, utimesSync } = await import('node:fs');
  chmodSync(path.join(to, 'recipes/app-test/hello/files/src/hello.c'), 0o664);
  utimesSync(path.join(to, 'recipes/app-test/hello/files/src/Makefile'), 1e9, 1e9);
  assert.equal(await idOf({}, [], to), GOLDEN);
});

const DIFFERENT: [string, Record<string, FileSpec>, string[]?][] = [
  [
    'patch bytes',
    {
      'ctr/pkgs/hello/patches/two.patch':
        '--- a/Makefile\n+++ b/Makefile\n@@ -1,2 +1,2 @@\n all:\n-\tcc -o hello hello.c\n+\tcc -O3 -o hello hello.c\n',
    },
  ],
  [
    'patch order',
    {
      'ctr/pkgs/hello/pkg.yaml': HELLO_PKG.replace(
        '  patches/one.patch: "first"\n  patches/two.patch: "second"',
        '  patches/two.patch: "second"\n  patches/one.patch: "first"',
      ),
    },
  ],
  [
    'patch strip level',
    {
      'ctr/pkgs/hello/pkg.yaml': HELLO_PKG.replace(
        'patches:\n  patches/one.patch: "first"\n  patches/two.patch: "second"',
        'patches:\n  - { file: patches/one.patch, strip: 0 }\n  - { file: patches/two.patch }',
      ),
    },
  ],
  [
    'an effective use flag',
    { 'ctr/pkgs/hello/pkg.yaml': HELLO_PKG.replace('with: [shout]', 'with: [shout]\n  without: [motd]') },
  ],
  [
    "a flag's configure words",
    { 'recipes/app-test/hello/hello-1.0.yaml': HELLO_RECIPE.replace('SHOUT=1', 'SHOUT=2') },
  ],
  [
    'source bytes (folder digest)',
    { 'recipes/app-test/hello/files/src/hello.c': 'int main(void) { return 2; }\n' },
  ],
  [
    'a source file made executable',
    {
      'recipes/app-test/hello/files/src/hello.c': { content: 'int main(void) { return 0; }\n', mode: 0o755 },
    },
  ],
  [
    'a build line',
    { 'recipes/app-test/hello/hello-1.0.yaml': HELLO_RECIPE.replace('  - make\n', '  - make -j1\n') },
  ],
  [
    'the env',
    { 'recipes/app-test/hello/hello-1.0.yaml': HELLO_RECIPE.replace('CFLAGS: -O2', 'CFLAGS: -O3') },
  ],
  ['the epoch', { 'recipes/app-test/hello/hello-1.0.yaml': `${HELLO_RECIPE}epoch: 1700000000\n` }],
  ['the target arch', {}, ['--target', 'linux/arm64']],
];

for (const [name, overrides, extra] of DIFFERENT) {
  test(`different identity: ${name}`, async () => {
    const id = extra ? await idOf(overrides, []) : await idOf(overrides);
    if (extra) {
      const other = await buildit(
        ['hash', path.join(helloFixture(overrides), 'ctr/pkgs/hello'), '--json', ...extra],
        { env: testEnv() },
      );
      assert.equal(other.code, 0, other.stderr);
      assert.notEqual(other.events[0]!['id'], id);
    } else assert.notEqual(id, GOLDEN);
  });
}

test('different identity: a url source sha256 (and not its URL)', async () => {
  const recipe = (url: string, sha: string) =>
    HELLO_RECIPE.replace('  - path: ./files/src', `  - url: ${url}\n    sha256: ${sha}`);
  const a = await idOf({
    'recipes/app-test/hello/hello-1.0.yaml': recipe('https://a.example/x.tar.gz', 'a'.repeat(64)),
  });
  const mirror = await idOf({
    'recipes/app-test/hello/hello-1.0.yaml': recipe('https://mirror.example/x.tar.gz', 'a'.repeat(64)),
  });
  const b = await idOf({
    'recipes/app-test/hello/hello-1.0.yaml': recipe('https://a.example/x.tar.gz', 'b'.repeat(64)),
  });
  assert.equal(a, mirror);
  assert.notEqual(a, b);
});

test("different identity: a dependency's identity changes, and only its dependents change", async () => {
  const withDep = (zlibBuild: string): Record<string, FileSpec> => ({
    'recipes/app-test/hello/hello-1.0.yaml': `${HELLO_RECIPE}depends:\n  build: [dev-test/zlib-1.3]\n`,
    'recipes/dev-test/zlib/zlib-1.3.yaml': `build:\n  - ${zlibBuild}\n`,
  });
  const dir1 = helloFixture(withDep('make'));
  const dir2 = helloFixture(withDep('make -j2'));
  const hello1 = await idOf({}, [], dir1);
  const hello2 = await idOf({}, [], dir2);
  assert.notEqual(hello1, hello2);
  assert.notEqual(hello1, GOLDEN);
  const zlib = async (dir: string) =>
    (
      await buildit(['hash', 'dev-test/zlib-1.3', '--json', '--target', 'linux/amd64'], {
        cwd: path.join(dir, 'ctr'),
      })
    ).events[0]!;
  const z1 = await zlib(dir1);
  const z2 = await zlib(dir2);
  assert.notEqual(z1['id'], z2['id']);
  // A dependency is named and pinned by its identity in the dependent's pre-image.
  const r = await buildit(['hash', path.join(dir1, 'ctr/pkgs/hello'), '--json', '--target', 'linux/amd64']);
  const deps = (r.events[0]!['preimage'] as { deps: unknown }).deps;
  assert.deepEqual(deps, { build: [{ name: 'dev-test/zlib-1.3', id: z1['id'] }], run: [] });
});

test('dependencies are a set: their order in depends does not matter', async () => {
  const recipes = (order: string): Record<string, FileSpec> => ({
    'recipes/app-test/hello/hello-1.0.yaml': `${HELLO_RECIPE}depends:\n  run: [${order}]\n`,
    'recipes/dev-test/a/a-1.yaml': 'build: [make]\n',
    'recipes/dev-test/b/b-1.yaml': 'build: [make]\n',
  });
  assert.equal(
    await idOf(recipes('dev-test/a-1, dev-test/b-1')),
    await idOf(recipes('dev-test/b-1, dev-test/a-1')),
  );
});

test('a different toolchain is a different identity', async () => {
  const dir = helloFixture();
  const pkg = path.join(dir, 'ctr/pkgs/hello');
  const a = await buildit(['hash', pkg, '--json', '--target', 'linux/amd64'], {
    env: testEnv({ BUILDIT_TOOLCHAIN: 'gcc-12' }),
  });
  const b = await buildit(['hash', pkg, '--json', '--target', 'linux/amd64'], {
    env: testEnv({ BUILDIT_TOOLCHAIN: 'gcc-13' }),
  });
  assert.notEqual(a.events[0]!['id'], b.events[0]!['id']);
});

test('a remote patch pinned in container.lock takes part in the identity; unpinned, the identity is pending', async () => {
  const url = 'https://patches.example/fix.patch';
  const pkg = HELLO_PKG.replace(
    '  patches/two.patch: "second"',
    `  patches/two.patch: "second"\n  ${url}: "remote fix"`,
  );
  const dir = helloFixture({ 'ctr/pkgs/hello/pkg.yaml': pkg });
  const pending = await buildit(['hash', path.join(dir, 'ctr/pkgs/hello'), '--json']);
  assert.equal(pending.code, 2);
  assert.equal(pending.events[0]!['code'], 'BUILDIT_IDENTITY_PENDING');
  writeFiles(dir, {
    'ctr/container.lock': JSON.stringify({ schema: 'buildit-lock/v1', distfiles: { [url]: 'c'.repeat(64) } }),
  });
  const pinned = await idOf({}, [], dir);
  writeFiles(dir, {
    'ctr/container.lock': JSON.stringify({ schema: 'buildit-lock/v1', distfiles: { [url]: 'd'.repeat(64) } }),
  });
  assert.notEqual(await idOf({}, [], dir), pinned);
});
