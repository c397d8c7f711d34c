import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfig } from '../../src/config/buildit-config.ts';
import { parseContainer } from '../../src/config/container.ts';
import { parsePackageDef } from '../../src/config/package-def.ts';
import { parseRecipe } from '../../src/config/recipe-file.ts';
import type { Step } from '../../src/config/types.ts';
import { errorOf, errorsOf, plain } from './errors.ts';

const SHA_A = 'a'.repeat(64);
const NGINX_SHA = '9ebb333a9e82b952acd3e2b4aeb1d4ff6406f72491bab6cd9fe69f0dea737f31';

const onlyStep = (text: string): Step => {
  const { steps } = parseContainer(text, 'container.yaml');
  assert.equal(steps.length, 1);
  return steps[0]!;
};
const syncWith = (line: string) => `- sync:\n    src: ./a\n    dest: /a\n    ${line}\n`;
const sync = (text: string) => {
  const step = onlyStep(text);
  assert.equal(step.kind, 'sync');
  return step as Extract<Step, { kind: 'sync' }>;
};

// ---- container.yaml ----

test('container: chmod digits mean octal however YAML typed them', () => {
  for (const [chmod, mode] of [
    ['0644', 0o644],
    ['"0644"', 0o644],
    ['644', 0o644],
    ['0o644', 0o644],
    ["'0o644'", 0o644],
    ['0755', 0o755],
    ['4755', 0o4755],
  ] as const) {
    assert.equal(sync(syncWith(`chmod: ${chmod}`)).mode, mode, chmod);
  }
  assert.equal(0o644, 420);
});

test('container: sync defaults: owner 0:0, not recursive, no mode', () => {
  const step = sync(syncWith('recursive: True'));
  assert.deepEqual(step.owner, { uid: 0, gid: 0 });
  assert.equal(step.recursive, true);
  assert.equal(step.mode, undefined);
  assert.equal(sync(syncWith('chmod: 0644')).recursive, false);
});

test('container: owner is uid:gid (or one id for both)', () => {
  for (const [owner, expected] of [
    ['1000:100', { uid: 1000, gid: 100 }],
    ['"1000:100"', { uid: 1000, gid: 100 }],
    ['0:0', { uid: 0, gid: 0 }],
    ['1000', { uid: 1000, gid: 1000 }],
  ] as const) {
    assert.deepEqual(sync(syncWith(`owner: ${owner}`)).owner, expected, owner);
  }
});

test('container: vars values are strings; numbers and booleans keep their written form', () => {
  const step = onlyStep(`- vars:
    author: Sysadmin42
    version: 1.7.6-p1
    minor: 1.10
    count: 5
    flag: true
    shout: True
    answer: yes
    quoted: "x"
`);
  assert.equal(step.kind, 'vars');
  assert.deepEqual(plain(step.kind === 'vars' && step.vars), {
    author: 'Sysadmin42',
    version: '1.7.6-p1',
    minor: '1.10',
    count: '5',
    flag: 'true',
    shout: 'true',
    answer: 'yes',
    quoted: 'x',
  });
});

test('container: the SPEC example parses into its five steps', () => {
  const spec = parseContainer(
    `- vars:                      # template variables
    author: Sysadmin42
    name: nginx-production
    version: 1.7.6-p1
    os: linux
    arch: amd64
- package:
    type: embedded
    path: ./pkgs/nginx
- package:
    type: recipe
    atom: sys-libs/zlib-1.3
    use: { with: [static] }  # optional
- sync:
    src: ./files/nginx.conf
    dest: /etc/nginx/nginx.conf
    recursive: True
    chmod: 0644
    owner: 0:0
- image:
    type: aci
    content: |
        { "acKind": "ImageManifest", "acVersion": "0.8.11",
          "name": "{{ name }}-{{ version }}" }
`,
    'container.yaml',
  );
  assert.equal(spec.file, 'container.yaml');
  assert.deepEqual(plain(spec.steps), [
    {
      kind: 'vars',
      vars: {
        author: 'Sysadmin42',
        name: 'nginx-production',
        version: '1.7.6-p1',
        os: 'linux',
        arch: 'amd64',
      },
    },
    { kind: 'package', type: 'embedded', path: './pkgs/nginx' },
    {
      kind: 'package',
      type: 'recipe',
      atom: { category: 'sys-libs', name: 'zlib', version: '1.3' },
      use: { with: ['static'], without: [] },
    },
    {
      kind: 'sync',
      src: './files/nginx.conf',
      dest: '/etc/nginx/nginx.conf',
      recursive: true,
      mode: 0o644,
      owner: { uid: 0, gid: 0 },
    },
    {
      kind: 'image',
      type: 'aci',
      content:
        '{ "acKind": "ImageManifest", "acVersion": "0.8.11",\n  "name": "{{ name }}-{{ version }}" }\n',
      push: [],
    },
  ]);
  // Each step can point back at its own lines.
  const [, , recipe, syncStep, image] = spec.steps;
  assert.ok(recipe?.kind === 'package' && recipe.type === 'recipe');
  assert.equal(recipe.locate(['atom']).line, 12);
  assert.equal(recipe.use.locate(['with', 0]).line, 13);
  assert.equal(syncStep!.locate(['chmod']).line, 18);
  assert.equal(image!.locate(['content']).line, 23);
});

test('container: an OCI image step takes name, tag, base and push', () => {
  const step = onlyStep(`- image:
    type: oci
    content: "{}"
    name: "{{ name }}"
    tag: v1
    base: docker.io/library/alpine:3.19
    push: [localhost:5000/a/b, localhost:5000/c]
`);
  assert.deepEqual(plain(step), {
    kind: 'image',
    type: 'oci',
    content: '{}',
    name: '{{ name }}',
    tag: 'v1',
    base: 'docker.io/library/alpine:3.19',
    push: ['localhost:5000/a/b', 'localhost:5000/c'],
  });
});

test('container: invalid documents get their own codes at the right place', () => {
  for (const [text, code, line] of [
    ['a: 1\n', 'BUILDIT_CONTAINER_NOT_LIST', 1],
    ['[]\n', 'BUILDIT_CONTAINER_EMPTY', 1],
    ['- vars: {}\n  sync: {}\n', 'BUILDIT_STEP_KEYS', 2],
    ['- sink: {}\n', 'BUILDIT_STEP_UNKNOWN', 1],
    ['- package:\n    type: embeded\n    path: x\n', 'BUILDIT_PACKAGE_TYPE_UNKNOWN', 2],
    ['- package:\n    path: x\n', 'BUILDIT_PACKAGE_TYPE_MISSING', 2],
    ['- image:\n    type: tar\n    content: x\n', 'BUILDIT_IMAGE_TYPE_UNKNOWN', 2],
    ['- image:\n    type: aci\n    content: "{}"\n    tag: v1\n', 'BUILDIT_SCHEMA_UNKNOWN_KEY', 4],
    ['- package:\n    type: recipe\n    atom: nginx\n', 'BUILDIT_ATOM_SYNTAX', 3],
    [syncWith('chmod: 888'), 'BUILDIT_SYNC_CHMOD', 4],
    [syncWith('chmod: rw-r--r--'), 'BUILDIT_SYNC_CHMOD', 4],
    [syncWith('chmod: 64'), 'BUILDIT_SYNC_CHMOD', 4],
    [syncWith('owner: root:root'), 'BUILDIT_SYNC_OWNER', 4],
    [syncWith('recursive: yes'), 'BUILDIT_SCHEMA_TYPE', 4],
    [syncWith('recursiv: true'), 'BUILDIT_SCHEMA_UNKNOWN_KEY', 4],
    ['- sync:\n    src: ./a\n    dest: etc/a\n', 'BUILDIT_SYNC_DEST', 3],
    ['- sync:\n    dest: /a\n', 'BUILDIT_SCHEMA_MISSING', 2],
    ['- vars:\n    a: [1]\n', 'BUILDIT_SCHEMA_VALUE', 2],
  ] as const) {
    const error = errorOf(() => parseContainer(text, 'c.yaml'));
    assert.equal(error.code, code, text);
    assert.equal(error.location?.file, 'c.yaml', text);
    assert.equal(error.location?.line, line, text);
  }
});

test('container: misspellings get a did-you-mean hint', () => {
  assert.match(errorOf(() => parseContainer('- sink: {}\n', 'c.yaml')).hint ?? '', /did you mean "sync"/);
  assert.match(
    errorOf(() => parseContainer('- package:\n    type: embeded\n    path: x\n', 'c.yaml')).hint ?? '',
    /did you mean "embedded"/,
  );
  assert.match(errorOf(() => parseContainer(syncWith('recursiv: true'), 'c.yaml')).hint ?? '', /"recursive"/);
});

test('container: problems in several steps are reported together', () => {
  const errors = errorsOf(() =>
    parseContainer(`${syncWith('chmod: 999')}- sink: {}\n${syncWith('owner: x')}`, 'c.yaml'),
  );
  assert.deepEqual(
    errors.map((e) => e.code),
    ['BUILDIT_SYNC_CHMOD', 'BUILDIT_STEP_UNKNOWN', 'BUILDIT_SYNC_OWNER'],
  );
});

// ---- pkg.yaml ----

test('pkg.yaml: the SPEC example (base, map-form patches, use, depends)', () => {
  const def = parsePackageDef(
    `base: www-servers/nginx-1.22.1
author: Sysadmin42 <sys@admin42.org>
patches:
  patches/https-only.patch: "This patch denies all plain http requests"
  https://example.org/fix.patch: "Fix buffer overruns"
use:
  with: [ipv6, selinux]
  without: [ssl]
depends: { run: [sys-libs/zlib-1.3] }
`,
    'pkg.yaml',
  );
  assert.deepEqual(def.base?.atom, { category: 'www-servers', name: 'nginx', version: '1.22.1' });
  assert.deepEqual(def.base?.location, { file: 'pkg.yaml', line: 1, col: 7 });
  assert.equal(def.author, 'Sysadmin42 <sys@admin42.org>');
  assert.equal(def.inline, undefined);
  assert.deepEqual(def.patches, [
    {
      kind: 'file',
      ref: 'patches/https-only.patch',
      description: 'This patch denies all plain http requests',
      strip: 1,
      location: { file: 'pkg.yaml', line: 4, col: 3 },
    },
    {
      kind: 'url',
      ref: 'https://example.org/fix.patch',
      description: 'Fix buffer overruns',
      strip: 1,
      location: { file: 'pkg.yaml', line: 5, col: 3 },
    },
  ]);
  assert.deepEqual(def.use.with, ['ipv6', 'selinux']);
  assert.deepEqual(def.use.without, ['ssl']);
  assert.equal(def.use.locate(['without', 0]).line, 8);
  assert.deepEqual(plain(def.depends), {
    build: [],
    run: [
      {
        atom: { category: 'sys-libs', name: 'zlib', version: '1.3' },
        location: { file: 'pkg.yaml', line: 9, col: 18 },
      },
    ],
  });
  assert.deepEqual(def.env, {});
});

test('pkg.yaml: a map-form patch without a description', () => {
  const def = parsePackageDef('base: a/b-1\npatches:\n  patches/x.patch:\n', 'pkg.yaml');
  assert.deepEqual(plain(def.patches), [
    { kind: 'file', ref: 'patches/x.patch', strip: 1, location: { file: 'pkg.yaml', line: 3, col: 3 } },
  ]);
});

test('pkg.yaml: list-form patches with strip and sha256', () => {
  const def = parsePackageDef(
    `base: www-servers/nginx-1.22.1
patches:
  - file: patches/a.patch
    description: one
    strip: 0
  - url: https://example.org/b.patch
    sha256: ${SHA_A}
    strip: 2
  - { file: patches/c.patch }
env: { WITH_X: 1, DEBUG: false }
`,
    'pkg.yaml',
  );
  assert.deepEqual(def.patches, [
    {
      kind: 'file',
      ref: 'patches/a.patch',
      description: 'one',
      strip: 0,
      location: { file: 'pkg.yaml', line: 3, col: 5 },
    },
    {
      kind: 'url',
      ref: 'https://example.org/b.patch',
      sha256: SHA_A,
      strip: 2,
      location: { file: 'pkg.yaml', line: 6, col: 5 },
    },
    { kind: 'file', ref: 'patches/c.patch', strip: 1, location: { file: 'pkg.yaml', line: 9, col: 5 } },
  ]);
  assert.deepEqual(def.env, { WITH_X: '1', DEBUG: 'false' });
});

test('pkg.yaml: an inline recipe declares its flags under flags:', () => {
  const def = parsePackageDef(
    `name: hello
version: 2.0_rc1
category: app-misc
description: inline
source:
  - path: ./src
  - url: https://example.org/x.tar.gz
    sha256: ${SHA_A}
    strip: 1
flags:
  shout: { default: true, enable: [SHOUT=1], disable: [SHOUT=0], description: loud }
  quiet: {}
use:
  without: [shout]
build:
  - make
epoch: 1700000000
`,
    'pkg.yaml',
  );
  assert.equal(def.base, undefined);
  const inline = def.inline!;
  assert.equal(inline.name, 'hello');
  assert.equal(inline.version, '2.0_rc1');
  assert.equal(inline.category, 'app-misc');
  assert.deepEqual(plain(inline.flags), [
    {
      name: 'shout',
      default: true,
      enable: ['SHOUT=1'],
      disable: ['SHOUT=0'],
      description: 'loud',
      depends: { build: [], run: [] },
    },
    { name: 'quiet', default: false, enable: [], disable: [], depends: { build: [], run: [] } },
  ]);
  assert.deepEqual(plain(inline.sources), [
    { kind: 'path', ref: './src', location: { file: 'pkg.yaml', line: 6, col: 5 } },
    {
      kind: 'url',
      ref: 'https://example.org/x.tar.gz',
      sha256: SHA_A,
      strip: 1,
      location: { file: 'pkg.yaml', line: 7, col: 5 },
    },
  ]);
  assert.deepEqual(inline.build, ['make']);
  assert.equal(inline.epoch, 1700000000);
  assert.deepEqual(def.use.without, ['shout']);
});

test('pkg.yaml: an inline recipe without category is in "local"; its version stays a string', () => {
  const inline = parsePackageDef('name: hello\nversion: 1.0\nbuild: [make]\n', 'pkg.yaml').inline!;
  assert.equal(inline.category, 'local');
  assert.equal(inline.version, '1.0');
  assert.deepEqual(inline.flags, []);
  assert.equal(inline.epoch, 0);
});

test('pkg.yaml: invalid documents', () => {
  for (const [text, codes] of [
    [
      'base: a/b-1\nname: x\nbuild: [make]\n',
      ['BUILDIT_PKG_INLINE_WITH_BASE', 'BUILDIT_PKG_INLINE_WITH_BASE'],
    ],
    ['base: a/b-1\nflags: {}\n', ['BUILDIT_PKG_INLINE_WITH_BASE']],
    ['author: x\n', ['BUILDIT_SCHEMA_MISSING', 'BUILDIT_SCHEMA_MISSING', 'BUILDIT_SCHEMA_MISSING']],
    ['name: hello-1\nversion: 1.0\nbuild: [make]\n', ['BUILDIT_ATOM_SYNTAX']],
    ['name: hello\nversion: one\nbuild: [make]\n', ['BUILDIT_SCHEMA_VALUE']],
    ['base: nginx\n', ['BUILDIT_ATOM_SYNTAX']],
    ['base: a/b-1\nuse: { with: [Bad] }\n', ['BUILDIT_SCHEMA_VALUE']],
    ['base: a/b-1\nuse: { ipv6: { default: true } }\n', ['BUILDIT_SCHEMA_UNKNOWN_KEY']],
    [
      'base: a/b-1\npatches:\n  - { file: x, url: https://e/y }\n  - { description: z }\n',
      ['BUILDIT_PATCH_KIND', 'BUILDIT_PATCH_KIND'],
    ],
    ['base: a/b-1\npatches:\n  - { url: https://e/y, sha256: ABC }\n', ['BUILDIT_SCHEMA_VALUE']],
    ['base: a/b-1\nauthr: x\n', ['BUILDIT_SCHEMA_UNKNOWN_KEY']],
    ['- a\n', ['BUILDIT_SCHEMA_TYPE']],
  ] as const) {
    const errors = errorsOf(() => parsePackageDef(text, 'pkg.yaml'));
    assert.deepEqual(
      errors.map((e) => e.code),
      codes,
      text,
    );
    assert.ok(
      errors.every((e) => e.location?.file === 'pkg.yaml'),
      text,
    );
  }
});

// ---- recipes ----

const SPEC_RECIPE = `description: Small, fast HTTP server
homepage: https://nginx.org
license: BSD-2-Clause
source:
  - url: https://nginx.org/download/nginx-1.22.1.tar.gz
    sha256: ${NGINX_SHA}
  # or { path: ./src/hello }  — a folder or tarball beside the recipe
patches: []
use:
  ipv6:    { default: true,  enable: [--with-ipv6] }
  ssl:     { default: false, enable: [--with-http_ssl_module], depends: { build: [dev-libs/openssl-3.0] } }
depends: { build: [], run: [] }
env: { CFLAGS: -O2 }
build:
  - ./configure --prefix=$PREFIX $BUILDIT_CONFIGURE_FLAGS
  - make -j$JOBS
  - make install DESTDIR=$DESTDIR
`;

test('recipe: the SPEC example parses to its typed form', () => {
  const recipe = parseRecipe(SPEC_RECIPE, 'repo/www-servers/nginx/nginx-1.22.1.yaml');
  const file = 'repo/www-servers/nginx/nginx-1.22.1.yaml';
  assert.deepEqual(plain(recipe), {
    file,
    description: 'Small, fast HTTP server',
    homepage: 'https://nginx.org',
    license: 'BSD-2-Clause',
    sources: [
      {
        kind: 'url',
        ref: 'https://nginx.org/download/nginx-1.22.1.tar.gz',
        sha256: NGINX_SHA,
        location: { file, line: 5, col: 5 },
      },
    ],
    patches: [],
    flags: [
      { name: 'ipv6', default: true, enable: ['--with-ipv6'], disable: [], depends: { build: [], run: [] } },
      {
        name: 'ssl',
        default: false,
        enable: ['--with-http_ssl_module'],
        disable: [],
        depends: {
          build: [
            {
              atom: { category: 'dev-libs', name: 'openssl', version: '3.0' },
              location: { file, line: 11, col: 83 },
            },
          ],
          run: [],
        },
      },
    ],
    depends: { build: [], run: [] },
    env: { CFLAGS: '-O2' },
    build: [
      './configure --prefix=$PREFIX $BUILDIT_CONFIGURE_FLAGS',
      'make -j$JOBS',
      'make install DESTDIR=$DESTDIR',
    ],
    epoch: 0,
  });
  assert.equal(recipe.locate(['use', 'ssl']).line, 11);
});

test('recipe: path sources, list-form patches, epoch digits and env scalars', () => {
  const recipe = parseRecipe(
    `source:
  - path: ./files/src
    strip: 0
patches:
  - { file: patches/fix.patch, strip: 0 }
epoch: "12"
env: { N: 5, V: 1.10, B: true }
build: [make]
`,
    'r.yaml',
  );
  assert.deepEqual(plain(recipe.sources), [
    { kind: 'path', ref: './files/src', strip: 0, location: { file: 'r.yaml', line: 2, col: 5 } },
  ]);
  assert.deepEqual(plain(recipe.patches), [
    { kind: 'file', ref: 'patches/fix.patch', strip: 0, location: { file: 'r.yaml', line: 5, col: 5 } },
  ]);
  assert.equal(recipe.epoch, 12);
  assert.deepEqual(recipe.env, { N: '5', V: '1.10', B: 'true' });
});

test('recipe: invalid documents', () => {
  for (const [text, codes, line] of [
    ['source:\n  - url: https://x/y.tgz\n', ['BUILDIT_SOURCE_SHA256'], 2],
    [`source:\n  - url: https://x/y.tgz\n    path: ./a\n    sha256: ${SHA_A}\n`, ['BUILDIT_SOURCE_KIND'], 2],
    ['source:\n  - {}\n', ['BUILDIT_SOURCE_KIND'], 2],
    ['source:\n  - url: https://x/y.tgz\n    sha256: ABC\n', ['BUILDIT_SCHEMA_VALUE'], 3],
    ['env: { PATH: /x }\n', ['BUILDIT_RECIPE_ENV'], 1],
    ['env:\n  BUILDIT_X: 1\n  1A: 2\n', ['BUILDIT_RECIPE_ENV', 'BUILDIT_RECIPE_ENV'], 2],
    ['epoch: -1\n', ['BUILDIT_SCHEMA_VALUE'], 1],
    ['use:\n  SSL: {}\n', ['BUILDIT_SCHEMA_VALUE'], 2],
    ['use:\n  ssl: { default: yes }\n', ['BUILDIT_SCHEMA_TYPE'], 2],
    ['use:\n  ssl: { with: [x] }\n', ['BUILDIT_SCHEMA_UNKNOWN_KEY'], 2],
    ['buld: [make]\n', ['BUILDIT_SCHEMA_UNKNOWN_KEY'], 1],
    ['depends: { build: [nginx] }\n', ['BUILDIT_ATOM_SYNTAX'], 1],
    ['build: make\n', ['BUILDIT_SCHEMA_TYPE'], 1],
    ['', ['BUILDIT_SCHEMA_TYPE'], 1],
  ] as const) {
    const errors = errorsOf(() => parseRecipe(text, 'r.yaml'));
    assert.deepEqual(
      errors.map((e) => e.code),
      codes,
      text,
    );
    assert.equal(errors[0]!.location?.line, line, text);
  }
  assert.match(errorOf(() => parseRecipe('buld: [make]\n', 'r.yaml')).hint ?? '', /did you mean "build"/);
});

// ---- .buildit-config.yaml ----

const SEED_CONFIG = `repository:
    name: mysuperbinhost
    upload-type: ssh
    upload-path: containers@mysuperbinhost.org/containers
    download-type: https
    download-path: mysuperbinhost.org/containers
`;

test("config: the seed's repository block is valid as it stands", () => {
  const config = parseConfig(SEED_CONFIG, '.buildit-config.yaml');
  assert.equal(config.file, '.buildit-config.yaml');
  assert.deepEqual(plain(config.repositories), [
    {
      name: 'mysuperbinhost',
      'upload-type': 'ssh',
      'upload-path': 'containers@mysuperbinhost.org/containers',
      'download-type': 'https',
      'download-path': 'mysuperbinhost.org/containers',
    },
  ]);
  assert.equal(Object.keys(config.repositories[0]!).length, 5);
  assert.deepEqual(config.discover, []);
  assert.deepEqual(config.recipes, []);
  assert.deepEqual(config.trustedKeys, []);
  assert.equal(config.store, undefined);
  assert.equal(config.locate(['repository', 'upload-type']).line, 3);
});

test('config: repository comes first, then the repositories list', () => {
  const config = parseConfig(
    `repositories:
  - name: a
    download-type: file
    download-path: file:///srv/binhost
  - name: b
    upload-type: sftp
    upload-path: sftp://u@host:2222/abs
repository:
  name: c
`,
    'cfg.yaml',
  );
  assert.deepEqual(plain(config.repositories), [
    { name: 'c' },
    { name: 'a', 'download-type': 'file', 'download-path': 'file:///srv/binhost' },
    { name: 'b', 'upload-type': 'sftp', 'upload-path': 'sftp://u@host:2222/abs' },
  ]);
});

test('config: recipes, discover and trusted-keys take one string or a list', () => {
  for (const [text, recipes] of [
    ['recipes: ./r\n', ['./r']],
    ['recipes: [./a, ../b]\n', ['./a', '../b']],
    ['recipes:\n  - ./a\n', ['./a']],
  ] as const) {
    assert.deepEqual(parseConfig(text, 'cfg.yaml').recipes, recipes, text);
  }
  const config = parseConfig(
    `discover: https://cache.example.org/bin
trusted-keys: [keys/a.pub]
signing-key: keys/me.key
store: /var/cache/buildit
output: ./out
`,
    'cfg.yaml',
  );
  assert.deepEqual(config.discover, ['https://cache.example.org/bin']);
  assert.deepEqual(config.trustedKeys, ['keys/a.pub']);
  assert.equal(config.signingKey, 'keys/me.key');
  assert.equal(config.store, '/var/cache/buildit');
  assert.equal(config.output, './out');
});

test('config: an empty file is every default', () => {
  for (const text of ['', '# nothing\n']) {
    const config = parseConfig(text, 'cfg.yaml');
    assert.deepEqual(config.repositories, []);
    assert.deepEqual(config.recipes, []);
    assert.deepEqual(config.discover, []);
    assert.deepEqual(config.trustedKeys, []);
  }
});

test('config: invalid documents', () => {
  for (const [text, code, line] of [
    ['repository:\n  name: x\n  upload-type: ftp\n', 'BUILDIT_SCHEMA_VALUE', 3],
    ['repository:\n  upload-type: ssh\n', 'BUILDIT_SCHEMA_MISSING', 2],
    ['repository:\n  name: x\n  upload_path: y\n', 'BUILDIT_SCHEMA_UNKNOWN_KEY', 3],
    ['recipe: ./r\n', 'BUILDIT_SCHEMA_UNKNOWN_KEY', 1],
    ['repositories: { name: x }\n', 'BUILDIT_SCHEMA_TYPE', 1],
    ['- a\n', 'BUILDIT_SCHEMA_TYPE', 1],
    ['store: /a\nstore: /b\n', 'BUILDIT_YAML_DUPLICATE_KEY', 2],
  ] as const) {
    const error = errorOf(() => parseConfig(text, 'cfg.yaml'));
    assert.equal(error.code, code, text);
    assert.equal(error.location?.line, line, text);
  }
  assert.match(errorOf(() => parseConfig('recipe: ./r\n', 'cfg.yaml')).hint ?? '', /did you mean "recipes"/);
});
