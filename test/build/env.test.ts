import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { FlagDeclaration } from '../../src/config/types.ts';
import type { PackageNode } from '../../src/recipe/types.ts';
import { buildEnv, useVarName } from '../../src/build/env.ts';

const SYSTEM = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

function flag(name: string, def: boolean, enable: string[], disable: string[] = []): FlagDeclaration {
  return { name, default: def, enable, disable, depends: { build: [], run: [] } } as FlagDeclaration;
}

function node(fields: {
  flags?: FlagDeclaration[];
  use?: Record<string, boolean>;
  env?: Record<string, string>;
  epoch?: number;
}): PackageNode {
  return {
    recipe: { epoch: fields.epoch ?? 0 },
    flags: fields.flags ?? [],
    use: fields.use ?? {},
    env: fields.env ?? {},
  } as unknown as PackageNode;
}

const dirs = { srcDir: '/w/src', destDir: '/w/dest', homeDir: '/w/home', jobs: 4 };

test('the whole environment, pinned: flags in declaration order, use vars, recipe env', () => {
  const n = node({
    // Declared in this order; neither alphabetical nor the use map's order.
    flags: [
      flag('ssl', false, ['--with-http_ssl_module'], ['--without-ssl']),
      flag('ipv6', true, ['--with-ipv6']),
      flag('http-v2+', true, ['--with-http_v2', '--with-h2c'], ['--no-v2']),
      flag('debug', false, ['--enable-debug']),
    ],
    use: { debug: false, 'http-v2+': true, ipv6: true, ssl: false },
    env: { CFLAGS: '-O2', PREFIX: '/opt/app' },
    epoch: 1700000000,
  });
  assert.deepEqual(buildEnv({ node: n, ...dirs, buildDeps: [] }), {
    PATH: SYSTEM,
    HOME: '/w/home',
    TZ: 'UTC',
    LC_ALL: 'C.UTF-8',
    SOURCE_DATE_EPOCH: '1700000000',
    DESTDIR: '/w/dest',
    PREFIX: '/opt/app',
    JOBS: '4',
    BUILDIT_CONFIGURE_FLAGS: '--without-ssl --with-ipv6 --with-http_v2 --with-h2c',
    BUILDIT_USE_SSL: '0',
    BUILDIT_USE_IPV6: '1',
    BUILDIT_USE_HTTP_V2_: '1',
    BUILDIT_USE_DEBUG: '0',
    CFLAGS: '-O2',
  });
});

test('a recipe without flags or env: PREFIX=/usr, empty configure flags, epoch 0', () => {
  assert.deepEqual(buildEnv({ node: node({}), ...dirs, jobs: 1, buildDeps: [] }), {
    PATH: SYSTEM,
    HOME: '/w/home',
    TZ: 'UTC',
    LC_ALL: 'C.UTF-8',
    SOURCE_DATE_EPOCH: '0',
    DESTDIR: '/w/dest',
    PREFIX: '/usr',
    JOBS: '1',
    BUILDIT_CONFIGURE_FLAGS: '',
  });
});

test('build dependencies: PATH first, CPATH, LIBRARY_PATH, PKG_CONFIG_PATH, sorted by atom', () => {
  const env = buildEnv({
    node: node({}),
    ...dirs,
    // Listed out of order: the identity sorts deps, so the environment must too.
    buildDeps: [
      { atom: 'sys-libs/zlib-1.3', root: '/d/zlib' },
      { atom: 'dev-libs/openssl-3.0', root: '/d/ssl' },
    ],
  });
  assert.equal(env['PATH'], `/d/ssl/usr/bin:/d/ssl/bin:/d/zlib/usr/bin:/d/zlib/bin:${SYSTEM}`);
  assert.equal(env['CPATH'], '/d/ssl/usr/include:/d/zlib/usr/include');
  assert.equal(env['LIBRARY_PATH'], '/d/ssl/usr/lib:/d/zlib/usr/lib');
  assert.equal(
    env['PKG_CONFIG_PATH'],
    '/d/ssl/usr/lib/pkgconfig:/d/ssl/usr/share/pkgconfig:/d/zlib/usr/lib/pkgconfig:/d/zlib/usr/share/pkgconfig',
  );
});

test('without build dependencies there are no empty search-path variables', () => {
  const env = buildEnv({ node: node({}), ...dirs, buildDeps: [] });
  for (const name of ['CPATH', 'LIBRARY_PATH', 'PKG_CONFIG_PATH']) assert.equal(name in env, false, name);
});

test("a recipe's own search path is kept after the dependencies' entries", () => {
  const env = buildEnv({
    node: node({ env: { PKG_CONFIG_PATH: '/opt/x/pkgconfig' } }),
    ...dirs,
    buildDeps: [{ atom: 'sys-libs/zlib-1.3', root: '/d/zlib' }],
  });
  assert.equal(
    env['PKG_CONFIG_PATH'],
    '/d/zlib/usr/lib/pkgconfig:/d/zlib/usr/share/pkgconfig:/opt/x/pkgconfig',
  );
  assert.equal(buildEnv({ node: node({ env: { CPATH: '/x' } }), ...dirs, buildDeps: [] })['CPATH'], '/x');
});

test('nothing is inherited from the process environment', () => {
  process.env['BUILDIT_TEST_CANARY'] = 'leaked';
  try {
    const env = buildEnv({ node: node({}), ...dirs, buildDeps: [] });
    assert.equal('BUILDIT_TEST_CANARY' in env, false);
    assert.equal(env['HOME'], '/w/home');
    assert.equal(env['PATH'], SYSTEM);
  } finally {
    delete process.env['BUILDIT_TEST_CANARY'];
  }
});

test('a flag missing from the use map falls back to its default', () => {
  const env = buildEnv({
    node: node({ flags: [flag('a', true, ['A=1'], ['A=0']), flag('b', false, ['B=1'], ['B=0'])] }),
    ...dirs,
    buildDeps: [],
  });
  assert.equal(env['BUILDIT_CONFIGURE_FLAGS'], 'A=1 B=0');
});

test('BUILDIT_USE_ names', () => {
  const cases: [string, string][] = [
    ['ssl', 'BUILDIT_USE_SSL'],
    ['http-v2', 'BUILDIT_USE_HTTP_V2'],
    ['c++', 'BUILDIT_USE_C__'],
    ['Mixed_Case', 'BUILDIT_USE_MIXED_CASE'],
  ];
  for (const [flagName, varName] of cases) assert.equal(useVarName(flagName), varName);
});
