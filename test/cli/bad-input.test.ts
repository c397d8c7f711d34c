/**
 * Bad input (SPEC §3): every mistake in a user's files is exit 2 with a stable
 * code, the exact file:line:col (1-based; col is the first character of the
 * offending key or value; a block scalar's value starts on its first content
 * line, col 1), and a hint. Nothing runs and nothing is written.
 *
 * Each case changes one file of helloFixture(). The texts below are written
 * out in full so that every line and column can be counted by eye.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildit, builditBin, testEnv, type CliResult } from '../helpers/cli.ts';
import { helloFixture, type FileSpec } from '../helpers/testdir.ts';

const CTR = 'ctr/container.yaml';
const PKG = 'ctr/pkgs/hello/pkg.yaml';
const RECIPE = 'recipes/app-test/hello/hello-1.0.yaml';
const CONFIG = '.buildit-config.yaml';

/** Lines 1-3 of most containers below: the step under test starts at line 4. */
const VARS = `- vars:
    name: hello
    version: "1.0"
`;

const IMAGE = `- image:
    type: oci
    content: |
      { "Cmd": ["/usr/bin/hello"] }
`;

/** A container.yaml: VARS (lines 1-3), `step` (from line 4), then a valid image step. */
function withStep(step: string): Record<string, FileSpec> {
  return { [CTR]: `${VARS}${step}${IMAGE}` };
}

interface Case {
  name: string;
  files: Record<string, FileSpec>;
  /** Command line; `$D` is the fixture dir. Default: plan $D/ctr --json. */
  argv?: string[];
  /** Run in the fixture dir instead of the repository. */
  cwdInFixture?: boolean;
  code: string;
  /** The error's file, relative to the fixture dir, or a literal such as "(command line)"; none for usage errors. */
  file?: string;
  /** null: the error has no line/col (a file that is missing as a whole, a usage error). */
  line: number | null;
  col: number | null;
  hint?: RegExp;
  message?: RegExp;
  /** How many errors are reported in all (default 1). */
  errors?: number;
}

const cases: Case[] = [
  // --- YAML itself ---------------------------------------------------------
  {
    name: 'malformed YAML: a key without its colon',
    files: {
      [CTR]: `- vars:
    name: hello
    version 1.0
    author: me
`,
    },
    code: 'BUILDIT_YAML_SYNTAX',
    file: CTR,
    line: 3,
    col: 5,
    message: /malformed YAML/,
    hint: /indentation|quoting/,
  },
  {
    name: 'malformed YAML: a plain value starting with a reserved character',
    files: {
      [CTR]: `- vars:
    name: @hello
`,
    },
    code: 'BUILDIT_YAML_SYNTAX',
    file: CTR,
    line: 2,
    col: 11,
    message: /reserved character @/,
  },
  {
    name: 'duplicate key in a vars step',
    files: {
      [CTR]: `- vars:
    name: hello
    name: other
`,
    },
    code: 'BUILDIT_YAML_DUPLICATE_KEY',
    file: CTR,
    line: 3,
    col: 5,
    message: /duplicate key "name"/,
  },

  {
    name: 'malformed YAML: a second document',
    files: { [CTR]: `${VARS}${IMAGE}---\n- vars: {}\n` },
    code: 'BUILDIT_YAML_SYNTAX',
    file: CTR,
    line: 8,
    col: 1,
    message: /multiple documents/,
  },

  // --- container.yaml shape ---------------------------------------------------
  {
    name: 'container.yaml is a mapping, not a list of steps',
    files: { [CTR]: 'name: hello\nversion: "1.0"\n' },
    code: 'BUILDIT_CONTAINER_NOT_LIST',
    file: CTR,
    line: 1,
    col: 1,
    hint: /- package/,
  },
  {
    name: 'a folder without container.yaml',
    files: { 'elsewhere/README': 'not a container\n' },
    argv: ['plan', '$D/elsewhere', '--json'],
    code: 'BUILDIT_CONTAINER_MISSING',
    file: 'elsewhere/container.yaml',
    line: null,
    col: null,
    hint: /container\.yaml/,
  },
  {
    name: 'unknown step, with did-you-mean',
    files: withStep(`- pakage:
    type: embedded
    path: ./pkgs/hello
`),
    code: 'BUILDIT_STEP_UNKNOWN',
    file: CTR,
    line: 4,
    col: 3,
    hint: /did you mean "package"/,
  },
  {
    name: 'one step with two keys (a forgotten "- ")',
    files: withStep(`- package:
    type: embedded
    path: ./pkgs/hello
  sync:
    src: ./files/motd.txt
    dest: /etc/motd
`),
    code: 'BUILDIT_STEP_KEYS',
    file: CTR,
    line: 7,
    col: 3,
    message: /step 2 has 2 keys/,
  },
  {
    name: 'unknown key in a sync step, with did-you-mean',
    files: withStep(`- sync:
    src: ./files/motd.txt
    dest: /etc/motd
    recursiv: true
`),
    code: 'BUILDIT_SCHEMA_UNKNOWN_KEY',
    file: CTR,
    line: 7,
    col: 5,
    hint: /did you mean "recursive"/,
  },
  {
    name: 'wrong type: use.with is a word, not a list',
    files: withStep(`- package:
    type: recipe
    atom: app-test/hello-1.0
    use:
      with: shout
`),
    code: 'BUILDIT_SCHEMA_TYPE',
    file: CTR,
    line: 8,
    col: 13,
    message: /expected a list, got a string \("shout"\)/,
    hint: /YAML list/,
  },
  {
    name: 'wrong type: recursive is not a boolean',
    files: withStep(`- sync:
    src: ./files
    dest: /srv
    recursive: yes
`),
    code: 'BUILDIT_SCHEMA_TYPE',
    file: CTR,
    line: 7,
    col: 16,
    message: /true or false/,
    hint: /true/,
  },
  {
    name: 'missing required key: sync without dest',
    files: withStep(`- sync:
    src: ./files/motd.txt
`),
    code: 'BUILDIT_SCHEMA_MISSING',
    file: CTR,
    line: 5,
    col: 5,
    message: /missing required key "dest"/,
    hint: /dest/,
  },

  {
    name: 'container.yaml that is an empty list',
    files: { [CTR]: '[]\n' },
    code: 'BUILDIT_CONTAINER_EMPTY',
    file: CTR,
    line: 1,
    col: 1,
  },
  {
    name: 'container.yaml without an image step',
    files: { [CTR]: VARS },
    code: 'BUILDIT_CONTAINER_NO_IMAGE',
    file: CTR,
    line: 1,
    col: 1,
    hint: /- image:/,
  },
  {
    name: 'a step that is a word, not a mapping',
    files: withStep('- hello\n'),
    code: 'BUILDIT_STEP_KEYS',
    file: CTR,
    line: 4,
    col: 3,
    message: /step 2 must be a mapping with one key, got a string \("hello"\)/,
  },
  {
    name: 'a variable name with a space (a bad mapping key)',
    files: {
      [CTR]: `- vars:
    name: hello
    "bad name": x
${IMAGE}`,
    },
    code: 'BUILDIT_SCHEMA_VALUE',
    file: CTR,
    line: 3,
    col: 5,
    message: /variable names are letters, digits/,
  },
  {
    name: 'missing required key: an image without content',
    files: {
      [CTR]: `${VARS}- image:
    type: oci
`,
    },
    code: 'BUILDIT_SCHEMA_MISSING',
    file: CTR,
    line: 5,
    col: 5,
    message: /missing required key "content"/,
    hint: /content:/,
  },

  // --- package steps -------------------------------------------------------------
  {
    name: 'unknown package type, with did-you-mean',
    files: withStep(`- package:
    type: embeded
    path: ./pkgs/hello
`),
    code: 'BUILDIT_PACKAGE_TYPE_UNKNOWN',
    file: CTR,
    line: 5,
    col: 11,
    hint: /did you mean "embedded"/,
  },
  {
    name: 'embedded package folder without pkg.yaml: located at the path: line',
    files: withStep(`- package:
    type: embedded
    path: ./pkgs/nope
`),
    code: 'BUILDIT_PKG_MISSING',
    file: CTR,
    line: 6,
    col: 11,
    message: /pkg\.yaml not found/,
    hint: /pkg\.yaml/,
  },
  {
    name: 'unknown atom: the hint lists the versions there are',
    files: withStep(`- package:
    type: recipe
    atom: app-test/hello-2.0
`),
    code: 'BUILDIT_ATOM_UNKNOWN',
    file: CTR,
    line: 6,
    col: 11,
    message: /unknown atom app-test\/hello-2\.0/,
    hint: /available versions of app-test\/hello: 1\.0/,
  },
  {
    name: 'unknown atom: a misspelt name gets did-you-mean',
    files: withStep(`- package:
    type: recipe
    atom: app-test/helo-1.0
`),
    code: 'BUILDIT_ATOM_UNKNOWN',
    file: CTR,
    line: 6,
    col: 11,
    hint: /did you mean app-test\/hello\?/,
  },
  {
    name: 'bad atom syntax (no category)',
    files: withStep(`- package:
    type: recipe
    atom: hello-1.0
`),
    code: 'BUILDIT_ATOM_SYNTAX',
    file: CTR,
    line: 6,
    col: 11,
    message: /bad atom "hello-1\.0"/,
    hint: /category\/name-version|www-servers\/nginx/,
  },
  {
    name: 'unknown use flag in a recipe package step: the hint lists the known flags',
    files: withStep(`- package:
    type: recipe
    atom: app-test/hello-1.0
    use: { with: [loud] }
`),
    code: 'BUILDIT_USE_UNKNOWN',
    file: CTR,
    line: 7,
    col: 19,
    message: /unknown use flag "loud"/,
    hint: /known flags: shout, motd/,
  },

  {
    name: 'unknown key in the use: of a recipe package step, with did-you-mean',
    files: withStep(`- package:
    type: recipe
    atom: app-test/hello-1.0
    use: { wihtout: [shout] }
`),
    code: 'BUILDIT_SCHEMA_UNKNOWN_KEY',
    file: CTR,
    line: 7,
    col: 12,
    hint: /did you mean "without"/,
  },
  {
    name: 'package path leading out of the container dir',
    files: {
      'elsewhere/pkg.yaml': 'base: app-test/hello-1.0\n',
      ...withStep(`- package:
    type: embedded
    path: ../elsewhere
`),
    },
    code: 'BUILDIT_PATH_ESCAPE',
    file: CTR,
    line: 6,
    col: 11,
    message: /outside the container dir/,
  },

  // --- pkg.yaml ----------------------------------------------------------------------
  {
    name: 'unknown key in pkg.yaml, with did-you-mean',
    files: {
      [PKG]: `base: app-test/hello-1.0
autor: Someone <someone@example.org>
`,
    },
    code: 'BUILDIT_SCHEMA_UNKNOWN_KEY',
    file: PKG,
    line: 2,
    col: 1,
    hint: /did you mean "author"/,
  },
  {
    name: 'unknown use flag in pkg.yaml, with did-you-mean and the known flags',
    files: {
      [PKG]: `base: app-test/hello-1.0
use:
  with: [shuot]
`,
    },
    code: 'BUILDIT_USE_UNKNOWN',
    file: PKG,
    line: 3,
    col: 10,
    hint: /did you mean "shout"\? known flags: shout, motd/,
  },
  {
    name: 'a flag both in with: and without:',
    files: {
      [PKG]: `base: app-test/hello-1.0
use:
  with: [shout]
  without: [shout]
`,
    },
    code: 'BUILDIT_USE_CONFLICT',
    file: PKG,
    line: 4,
    col: 13,
    message: /"shout" is both in with: and without:/,
  },
  {
    name: 'pkg.yaml with base: and build:',
    files: {
      [PKG]: `base: app-test/hello-1.0
build:
  - make
`,
    },
    code: 'BUILDIT_PKG_INLINE_WITH_BASE',
    file: PKG,
    line: 2,
    col: 1,
    message: /"build" belongs to a recipe/,
    hint: /drop base:/,
  },
  {
    name: 'unknown base atom in pkg.yaml',
    files: { [PKG]: 'base: app-test/hello-9.9\n' },
    code: 'BUILDIT_ATOM_UNKNOWN',
    file: PKG,
    line: 1,
    col: 7,
    hint: /available versions of app-test\/hello: 1\.0/,
  },
  {
    name: 'a local patch that does not exist',
    files: {
      [PKG]: `base: app-test/hello-1.0
patches:
  patches/one.patch: "first"
  patches/nope.patch: "missing"
`,
    },
    code: 'BUILDIT_PATCH_MISSING',
    file: PKG,
    line: 4,
    col: 3,
    message: /patch not found: .*patches\/nope\.patch/,
  },
  {
    name: 'a patch path leading out of the container dir',
    files: {
      'outside.patch': '--- a/x\n+++ b/x\n',
      [PKG]: `base: app-test/hello-1.0
patches:
  ../../../outside.patch: "escapes"
`,
    },
    code: 'BUILDIT_PATH_ESCAPE',
    file: PKG,
    line: 3,
    col: 3,
    message: /outside/,
  },

  {
    name: 'pkg.yaml without base: and without name: (an incomplete inline recipe)',
    files: {
      [PKG]: `version: "1.0"
build:
  - make
`,
    },
    code: 'BUILDIT_SCHEMA_MISSING',
    file: PKG,
    line: 1,
    col: 1,
    message: /missing "name"/,
    hint: /base:/,
  },
  {
    name: 'a list-form patch with both file: and url:',
    files: {
      [PKG]: `base: app-test/hello-1.0
patches:
  - file: patches/one.patch
    url: https://example.org/one.patch
`,
    },
    code: 'BUILDIT_PATCH_KIND',
    file: PKG,
    line: 3,
    col: 5,
  },
  {
    name: 'a list-form patch whose sha256 does not match the file',
    files: {
      [PKG]: `base: app-test/hello-1.0
patches:
  - file: patches/one.patch
    sha256: ${'0'.repeat(64)}
`,
    },
    code: 'BUILDIT_PATCH_SHA256',
    file: PKG,
    line: 3,
    col: 5,
    hint: /sha256/,
  },

  // --- recipes -------------------------------------------------------------------------
  {
    name: 'unknown key in a recipe, with did-you-mean',
    files: {
      [RECIPE]: `description: test program
licence: MIT
build:
  - make
`,
    },
    code: 'BUILDIT_SCHEMA_UNKNOWN_KEY',
    file: RECIPE,
    line: 2,
    col: 1,
    hint: /did you mean "license"/,
  },
  {
    name: 'a url source without sha256',
    files: {
      [RECIPE]: `description: test program
source:
  - url: https://example.org/hello-1.0.tar.gz
build:
  - make
`,
    },
    code: 'BUILDIT_SOURCE_SHA256',
    file: RECIPE,
    line: 3,
    col: 10,
    hint: /sha256:/,
  },
  {
    name: 'a sha256 that is not 64 hex digits',
    files: {
      [RECIPE]: `description: test program
source:
  - url: https://example.org/hello-1.0.tar.gz
    sha256: abc123
build:
  - make
`,
    },
    code: 'BUILDIT_SCHEMA_VALUE',
    file: RECIPE,
    line: 4,
    col: 13,
    message: /64 lowercase hex digits/,
    hint: /sha256/,
  },
  {
    name: 'a recipe setting a reserved environment variable',
    files: {
      [RECIPE]: `description: test program
env: { PATH: /opt/bin }
build:
  - make
`,
    },
    code: 'BUILDIT_RECIPE_ENV',
    file: RECIPE,
    line: 2,
    col: 8,
    message: /PATH is set by buildit/,
  },
  {
    name: 'a dependency cycle through two recipes prints the cycle',
    files: {
      'recipes/app-test/a/a-1.0.yaml': `description: a
depends:
  run: [app-test/b-1.0]
`,
      'recipes/app-test/b/b-1.0.yaml': `description: b
depends:
  run: [app-test/a-1.0]
`,
      ...withStep(`- package:
    type: recipe
    atom: app-test/a-1.0
`),
    },
    code: 'BUILDIT_DEP_CYCLE',
    file: 'recipes/app-test/b/b-1.0.yaml',
    line: 3,
    col: 9,
    message: /dependency cycle: app-test\/a-1\.0 → app-test\/b-1\.0 → app-test\/a-1\.0/,
  },

  {
    name: 'unknown key in a use flag declaration, with did-you-mean',
    files: {
      [RECIPE]: `use:
  shout: { defualt: true }
build:
  - make
`,
    },
    code: 'BUILDIT_SCHEMA_UNKNOWN_KEY',
    file: RECIPE,
    line: 2,
    col: 12,
    hint: /did you mean "default"/,
  },
  {
    name: 'a local source that does not exist',
    files: {
      [RECIPE]: `use:
  shout: { default: false }
  motd: { default: true }
source:
  - path: ./files/nope
build:
  - make
`,
    },
    code: 'BUILDIT_SOURCE_MISSING',
    file: RECIPE,
    line: 5,
    col: 5,
  },
  {
    name: 'a recipe that depends on itself',
    files: {
      [RECIPE]: `use:
  shout: { default: false }
depends: { run: [app-test/hello-1.0] }
build:
  - make
`,
    },
    code: 'BUILDIT_DEP_CYCLE',
    file: RECIPE,
    line: 3,
    col: 18,
    message: /dependency cycle: app-test\/hello-1\.0 → app-test\/hello-1\.0/,
  },

  // --- sync steps -----------------------------------------------------------------------
  {
    name: 'sync src leading out of the container dir through ..',
    files: {
      'outside.txt': 'secret\n',
      ...withStep(`- sync:
    src: ../outside.txt
    dest: /etc/outside
`),
    },
    code: 'BUILDIT_PATH_ESCAPE',
    file: CTR,
    line: 5,
    col: 10,
    message: /outside the container dir/,
  },
  {
    name: 'sync src leading out of the container dir through a symlink',
    files: {
      'outside.txt': 'secret\n',
      'ctr/files/link': { symlink: '../../outside.txt' },
      ...withStep(`- sync:
    src: ./files/link
    dest: /etc/outside
`),
    },
    code: 'BUILDIT_PATH_ESCAPE',
    file: CTR,
    line: 5,
    col: 10,
    hint: /symlink/,
  },
  {
    name: 'sync src is an absolute path',
    files: withStep(`- sync:
    src: /etc/passwd
    dest: /etc/passwd
`),
    code: 'BUILDIT_PATH_ESCAPE',
    file: CTR,
    line: 5,
    col: 10,
    message: /absolute/,
  },
  {
    name: 'sync src that does not exist',
    files: withStep(`- sync:
    src: ./files/nope.txt
    dest: /etc/nope
`),
    code: 'BUILDIT_SYNC_MISSING',
    file: CTR,
    line: 5,
    col: 10,
    message: /nope\.txt/,
  },
  {
    name: 'sync of a folder without recursive',
    files: withStep(`- sync:
    src: ./files
    dest: /srv/files
`),
    code: 'BUILDIT_SYNC_RECURSIVE',
    file: CTR,
    line: 5,
    col: 10,
    hint: /recursive: true/,
  },
  {
    name: 'sync dest that is not absolute',
    files: withStep(`- sync:
    src: ./files/motd.txt
    dest: etc/motd
`),
    code: 'BUILDIT_SYNC_DEST',
    file: CTR,
    line: 6,
    col: 11,
    hint: /dest: \//,
  },
  {
    name: 'chmod with a digit that is not octal',
    files: withStep(`- sync:
    src: ./files/motd.txt
    dest: /etc/motd
    chmod: 0855
`),
    code: 'BUILDIT_SYNC_CHMOD',
    file: CTR,
    line: 7,
    col: 12,
    message: /0855/,
    hint: /0644/,
  },
  {
    name: 'owner that is not uid:gid',
    files: withStep(`- sync:
    src: ./files/motd.txt
    dest: /etc/motd
    owner: root:root
`),
    code: 'BUILDIT_SYNC_OWNER',
    file: CTR,
    line: 7,
    col: 12,
    hint: /0:0/,
  },

  // --- image steps and templates ------------------------------------------------------------
  {
    name: 'image step without type',
    files: {
      [CTR]: `${VARS}- image:
    content: |
      {}
`,
    },
    code: 'BUILDIT_IMAGE_TYPE_MISSING',
    file: CTR,
    line: 5,
    col: 5,
    hint: /type: aci or type: oci/,
  },
  {
    name: 'unknown image type, with did-you-mean',
    files: {
      [CTR]: `${VARS}- image:
    type: ocl
    content: |
      {}
`,
    },
    code: 'BUILDIT_IMAGE_TYPE_UNKNOWN',
    file: CTR,
    line: 5,
    col: 11,
    hint: /did you mean "oci"/,
  },
  {
    name: 'a template naming an unknown variable: at its line and column in container.yaml',
    files: {
      [CTR]: `${VARS}- image:
    type: oci
    content: |
      { "Cmd": ["/usr/bin/hello"],
        "Labels": { "n": "{{ nmae }}" } }
`,
    },
    code: 'BUILDIT_TEMPLATE_VARIABLE',
    file: CTR,
    line: 8,
    // 8 spaces + `"Labels": { "n": "{{ ` is 29 characters: `nmae` starts at column 30.
    col: 30,
    message: /unknown variable "nmae"/,
    hint: /known variables: .*name/,
  },
  {
    name: 'a template that renders invalid JSON: the hint shows the rendered line',
    files: {
      [CTR]: `${VARS}- image:
    type: oci
    content: |
      { "Cmd": ["/usr/bin/hello"],
        "Labels": { "name": "{{ name }}" }, }
`,
    },
    code: 'BUILDIT_TEMPLATE_JSON',
    file: CTR,
    line: 8,
    // A column in the rendered text does not map back through substitutions: the hint shows both lines.
    col: null,
    hint: /rendered line 2: "Labels": \{ "name": "hello" \}, \}\n.*template line 8: "Labels": \{ "name": "\{\{ name \}\}" \}, \}/,
  },
  {
    name: 'an arch that is not an OCI name (x86_64)',
    files: {
      [CTR]: `- vars:
    name: hello
    arch: x86_64
- package:
    type: embedded
    path: ./pkgs/hello
${IMAGE}`,
    },
    code: 'BUILDIT_TARGET_ARCH',
    file: CTR,
    line: 3,
    col: 11,
    hint: /did you mean "amd64"/,
  },

  {
    name: 'a vars template naming an unknown variable: at its column in container.yaml',
    files: {
      [CTR]: `- vars:
    name: hello
    title: "{{ nope }}-x"
${IMAGE}`,
    },
    code: 'BUILDIT_TEMPLATE_VARIABLE',
    file: CTR,
    line: 3,
    // `    title: "{{ ` is 15 characters: `nope` starts at column 16.
    col: 16,
    message: /vars\.title: unknown variable "nope"/,
    hint: /known variables: .*name/,
  },
  {
    name: 'a template syntax error: at the template line in container.yaml',
    files: {
      [CTR]: `${VARS}- image:
    type: oci
    content: |
      { "Cmd": ["/usr/bin/hello"],
        "n": "{{ name }" }
`,
    },
    code: 'BUILDIT_TEMPLATE_SYNTAX',
    file: CTR,
    line: 8,
    col: null,
  },
  {
    name: 'an os that is not an OCI name, with did-you-mean',
    files: {
      [CTR]: `- vars:
    name: hello
    os: linx
${IMAGE}`,
    },
    code: 'BUILDIT_TARGET_OS',
    file: CTR,
    line: 3,
    col: 9,
    hint: /did you mean "linux"/,
  },

  // --- .buildit-config.yaml -----------------------------------------------------------------
  {
    name: 'malformed .buildit-config.yaml',
    files: {
      [CONFIG]: `recipes: [./recipes
store: ./store
`,
    },
    code: 'BUILDIT_YAML_SYNTAX',
    file: CONFIG,
    line: 2,
    col: 1,
  },
  {
    name: '.buildit-config.yaml: recipes is a mapping',
    files: { [CONFIG]: 'recipes: {a: 1}\n' },
    code: 'BUILDIT_SCHEMA_TYPE',
    file: CONFIG,
    line: 1,
    col: 10,
    message: /recipes: expected a list, got a mapping/,
  },
  {
    name: '.buildit-config.yaml: unknown key, with did-you-mean',
    files: {
      [CONFIG]: `recipes: [./recipes]
stroe: ./store
`,
    },
    code: 'BUILDIT_SCHEMA_UNKNOWN_KEY',
    file: CONFIG,
    line: 2,
    col: 1,
    hint: /did you mean "store"/,
  },
  {
    name: '.buildit-config.yaml: a recipes folder that does not exist',
    files: { [CONFIG]: 'recipes: [./recipes, ./nope]\n' },
    code: 'BUILDIT_CONFIG_RECIPES',
    file: CONFIG,
    line: 1,
    col: 22,
    message: /recipe repository not found: .*nope/,
    hint: /relative to the config file/,
  },

  {
    name: '.buildit-config.yaml: a repository block with a misspelt key',
    files: {
      [CONFIG]: `recipes: [./recipes]
repository:
  nmae: mysuperbinhost
`,
    },
    code: 'BUILDIT_SCHEMA_UNKNOWN_KEY',
    errors: 2, // and BUILDIT_SCHEMA_MISSING for name:
    file: CONFIG,
    line: 3,
    col: 3,
    hint: /did you mean "name"/,
  },
  {
    name: '--config naming a file that does not exist',
    files: {},
    argv: ['plan', '$D/ctr', '--config', '$D/nope.yaml', '--json'],
    code: 'BUILDIT_CONFIG_MISSING',
    file: 'nope.yaml',
    line: null,
    col: null,
    hint: /--config/,
  },

  // --- container.lock ------------------------------------------------------------------------
  {
    name: 'a container.lock that is not JSON',
    files: {
      'ctr/container.lock': `{
  "schema": "buildit-lock/v1",
  "distfiles": { oops }
}
`,
    },
    code: 'BUILDIT_LOCK_INVALID',
    file: 'ctr/container.lock',
    line: 3,
    col: 18,
    hint: /delete it/,
  },

  // --- the command line ----------------------------------------------------------------------
  {
    name: '--var without =',
    files: {},
    argv: ['plan', '$D/ctr', '--var', 'version', '--json'],
    code: 'BUILDIT_USAGE_VAR',
    line: null,
    col: null,
    message: /--var version/,
    hint: /key=value|version=/,
  },
  {
    name: 'hash of something that is neither a folder nor an atom',
    files: {},
    argv: ['hash', '$D/no-such-thing', '--json'],
    code: 'BUILDIT_USAGE_PACKAGE',
    line: null,
    col: null,
    message: /neither a package folder nor an atom/,
    hint: /no-such-thing does not exist; give a folder holding pkg\.yaml/,
  },
  {
    name: 'hash of a file that is not pkg.yaml',
    files: { 'notes.txt': 'hello\n' },
    argv: ['hash', '$D/notes.txt', '--json'],
    code: 'BUILDIT_USAGE_PACKAGE',
    line: null,
    col: null,
    message: /neither a package folder nor an atom/,
    hint: /notes\.txt is a file, not a package folder/,
  },
  {
    name: 'hash of a malformed atom',
    files: {},
    argv: ['hash', 'app-misc', '--json'],
    code: 'BUILDIT_USAGE_PACKAGE',
    line: null,
    col: null,
    message: /app-misc is neither a package folder nor an atom/,
    hint: /^(?!.*does not exist)/,
  },
  {
    name: 'hash of a package folder whose pkg.yaml has an unknown key',
    files: {
      [PKG]: `base: app-test/hello-1.0
use:
  wiht: [shout]
`,
    },
    argv: ['hash', '$D/ctr/pkgs/hello', '--json'],
    code: 'BUILDIT_SCHEMA_UNKNOWN_KEY',
    file: PKG,
    line: 3,
    col: 3,
    message: /use: unknown key "wiht"/,
    hint: /did you mean "with"/,
  },
  {
    name: 'hash of an unknown atom',
    files: {},
    argv: ['hash', 'app-test/hello-3.0', '--json'],
    cwdInFixture: true,
    code: 'BUILDIT_ATOM_UNKNOWN',
    file: '(command line)',
    line: null,
    col: null,
    hint: /available versions of app-test\/hello: 1\.0/,
  },
  {
    name: 'hash --target with an arch that is not an OCI name',
    files: {},
    argv: ['hash', 'app-test/hello-1.0', '--target', 'linux/x86_64', '--json'],
    cwdInFixture: true,
    code: 'BUILDIT_TARGET_ARCH',
    file: '(--target)',
    line: null,
    col: null,
    hint: /did you mean "amd64"/,
  },
  {
    name: 'hash --target without a slash',
    files: {},
    argv: ['hash', 'app-test/hello-1.0', '--target', 'linux', '--json'],
    cwdInFixture: true,
    code: 'BUILDIT_USAGE_TARGET',
    line: null,
    col: null,
    hint: /linux\/arm64/,
  },
];

async function runCase(c: Case): Promise<{ dir: string; r: CliResult }> {
  const dir = helloFixture(c.files);
  const argv = (c.argv ?? ['plan', '$D/ctr', '--json']).map((a) => a.replace('$D', dir));
  const r = await buildit(argv, c.cwdInFixture ? { cwd: dir } : {});
  return { dir, r };
}

function errorsOf(r: CliResult): Record<string, unknown>[] {
  return r.events.filter((e) => e['type'] === 'error');
}

for (const c of cases) {
  test(`${c.code}: ${c.name}`, async () => {
    const { dir, r } = await runCase(c);
    const show = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    assert.equal(r.code, 2, show);
    const errors = errorsOf(r);
    assert.equal(errors.length, c.errors ?? 1, show);
    const e = errors.find((x) => x['code'] === c.code);
    assert.ok(e, `no ${c.code} error\n${show}`);
    const file = c.file === undefined || c.file.startsWith('(') ? c.file : path.join(dir, c.file);
    assert.equal(e['file'], file, `file\n${show}`);
    assert.equal(e['line'], c.line ?? undefined, `line\n${show}`);
    assert.equal(e['col'], c.col ?? undefined, `col\n${show}`);
    assert.equal(typeof e['hint'], 'string', `a hint\n${show}`);
    assert.notEqual(e['hint'], '', show);
    if (c.hint) assert.match(String(e['hint']), c.hint);
    if (c.message) assert.match(String(e['message']), c.message);
    assert.deepEqual(r.events.at(-1), { type: 'result', ok: false, exitCode: 2 });
  });
}

/** Replace a file of the fixture by a folder of the same name. */
function makeFolder(dir: string, rel: string): void {
  rmSync(path.join(dir, rel), { force: true });
  mkdirSync(path.join(dir, rel, 'inside'), { recursive: true });
}

/**
 * Files of the wrong kind (a folder where a file belongs, a symlink loop) are
 * still the user's input at fault: exit 2 at the place that names them, never
 * an internal error. The exact code is left to src; its area is not.
 */
const wrongKinds: {
  name: string;
  files: Record<string, FileSpec>;
  setup?: (dir: string) => void;
  code: RegExp;
  file: string;
  line: number | null;
  col: number | null;
}[] = [
  {
    name: 'container.yaml is a folder',
    files: {},
    setup: (dir) => makeFolder(dir, CTR),
    code: /^BUILDIT_CONTAINER_/,
    file: CTR,
    line: null,
    col: null,
  },
  {
    name: 'pkg.yaml is a folder: located at the path: line of the package step',
    files: {},
    setup: (dir) => makeFolder(dir, PKG),
    code: /^BUILDIT_PKG_/,
    file: CTR,
    line: 7,
    col: 11,
  },
  {
    name: 'a local patch is a folder',
    files: {
      [PKG]: `base: app-test/hello-1.0
patches:
  patches/more: "a folder"
`,
      'ctr/pkgs/hello/patches/more/three.patch': '--- a/x\n+++ b/x\n',
    },
    code: /^BUILDIT_PATCH_/,
    file: PKG,
    line: 3,
    col: 3,
  },
  {
    name: 'sync src is a symlink loop',
    files: {
      'ctr/files/loop': { symlink: 'loop' },
      ...withStep(`- sync:
    src: ./files/loop
    dest: /etc/loop
`),
    },
    code: /^BUILDIT_(SYNC|PATH)_/,
    file: CTR,
    line: 5,
    col: 10,
  },
];

for (const c of wrongKinds) {
  test(`wrong kind of file: ${c.name}`, async () => {
    const dir = helloFixture(c.files);
    c.setup?.(dir);
    const r = await buildit(['plan', path.join(dir, 'ctr'), '--json']);
    const show = `stdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    assert.equal(r.code, 2, show);
    const errors = errorsOf(r);
    assert.equal(errors.length, 1, show);
    const e = errors[0]!;
    assert.match(String(e['code']), c.code, show);
    assert.equal(e['file'], path.join(dir, c.file), show);
    assert.equal(e['line'], c.line ?? undefined, show);
    assert.equal(e['col'], c.col ?? undefined, show);
    assert.ok(e['hint'], show);
  });
}

test('wrong kind of file: a folder named .buildit-config.yaml is not an internal error', async () => {
  const dir = helloFixture();
  makeFolder(dir, CONFIG);
  const r = await buildit(['plan', path.join(dir, 'ctr'), '--json']);
  assert.notEqual(r.code, 1, r.stdout);
  assert.ok(!errorsOf(r).some((e) => e['code'] === 'BUILDIT_INTERNAL'), r.stdout);
});

test('--var arch=x86_64: the mistake is on the command line, not in container.yaml', async () => {
  const dir = helloFixture();
  const r = await buildit(['plan', path.join(dir, 'ctr'), '--var', 'arch=x86_64', '--json']);
  assert.equal(r.code, 2, r.stdout);
  const e = errorsOf(r).find((x) => x['code'] === 'BUILDIT_TARGET_ARCH');
  assert.ok(e, r.stdout);
  assert.match(String(e['hint']), /did you mean "amd64"/);
  assert.notEqual(e['file'], path.join(dir, CTR), 'container.yaml does not name an arch');
  assert.equal(e['line'], undefined);
});

test('at least 30 bad-input cases', () => {
  assert.ok(cases.length >= 30, String(cases.length));
});

test('every problem in container.yaml is reported at once, in file order', async () => {
  const dir = helloFixture({
    [CTR]: `- vars:
    name: hello
- pakage:
    type: embedded
- sync:
    src: ./files/motd.txt
    dest: etc/motd
- image:
    type: ocl
    content: "{}"
`,
  });
  const r = await buildit(['plan', path.join(dir, 'ctr'), '--json']);
  assert.equal(r.code, 2, r.stderr);
  const found = errorsOf(r).map((e) => [e['code'], e['file'], e['line'], e['col']]);
  const file = path.join(dir, CTR);
  assert.deepEqual(found, [
    ['BUILDIT_STEP_UNKNOWN', file, 3, 3],
    ['BUILDIT_SYNC_DEST', file, 7, 11],
    ['BUILDIT_IMAGE_TYPE_UNKNOWN', file, 9, 11],
  ]);
  for (const e of errorsOf(r)) assert.ok(e['hint'], JSON.stringify(e));
  assert.deepEqual(r.events.at(-1), { type: 'result', ok: false, exitCode: 2 });
});

test('problems in container.yaml, pkg.yaml and a recipe are reported together', async () => {
  const dir = helloFixture({
    [CTR]: `${VARS}- package:
    type: embedded
    path: ./pkgs/hello
- package:
    type: embedded
    path: ./pkgs/other
- sync:
    src: ./files/nope.txt
    dest: /etc/nope
${IMAGE}`,
    [PKG]: `base: app-test/hello-1.0
use:
  with: [shuot]
`,
    'ctr/pkgs/other/pkg.yaml': 'base: app-test/other-1.0\n',
    'recipes/app-test/other/other-1.0.yaml': 'licence: MIT\n',
  });
  const r = await buildit(['plan', path.join(dir, 'ctr'), '--json']);
  assert.equal(r.code, 2, r.stderr);
  const found = errorsOf(r)
    .map(
      (e) =>
        `${path.relative(dir, String(e['file']))}:${String(e['line'])}:${String(e['col'])} ${String(e['code'])}`,
    )
    .sort();
  assert.deepEqual(found, [
    `${CTR}:11:10 BUILDIT_SYNC_MISSING`,
    `${PKG}:3:10 BUILDIT_USE_UNKNOWN`,
    'recipes/app-test/other/other-1.0.yaml:1:1 BUILDIT_SCHEMA_UNKNOWN_KEY',
  ]);
});

test('invalid input writes nothing: no store, no container.lock, no output', async () => {
  const env = testEnv();
  const dir = helloFixture(
    withStep(`- package:
    type: embedded
    path: ./pkgs/hello
- sync:
    src: ./files/motd.txt
    dest: etc/motd
`),
  );
  const before = readdirSync(path.join(dir, 'ctr')).sort();
  const r = await buildit(['plan', path.join(dir, 'ctr'), '--json'], { env, cwd: dir });
  assert.equal(r.code, 2, r.stderr);
  assert.equal(errorsOf(r)[0]!['code'], 'BUILDIT_SYNC_DEST');
  const store = String(env['BUILDIT_HOME']);
  assert.ok(!existsSync(store) || readdirSync(store).length === 0, `store ${store} was written`);
  assert.ok(!existsSync(String(env['XDG_CACHE_HOME'])), 'the cache home was written');
  assert.deepEqual(readdirSync(path.join(dir, 'ctr')).sort(), before);
  assert.ok(!existsSync(path.join(dir, 'ctr/container.lock')));
  assert.ok(!existsSync(path.join(dir, 'out')));
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test('human output: file:line:col: error: message [CODE], then an indented hint', async () => {
  const dir = helloFixture(
    withStep(`- sync:
    src: ./files/motd.txt
    dest: /etc/motd
    chmod: 0855
`),
  );
  const r = await buildit(['plan', path.join(dir, 'ctr')]);
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const file = path.join(dir, CTR);
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 2, r.stderr);
  assert.match(lines[0]!, new RegExp(`^${escape(file)}:7:12: error: .*0855.* \\[BUILDIT_SYNC_CHMOD\\]$`));
  assert.match(lines[1]!, /^ {2}hint: \S/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --debug');
});

test('human output with several problems: each located, then a count; the real executable exits 2', () => {
  const dir = helloFixture({
    [CTR]: `- vars:
    name: hello
- pakage:
    type: embedded
- sync:
    src: ./files/motd.txt
    dest: etc/motd
- image:
    type: ocl
    content: "{}"
`,
  });
  const r = builditBin(['plan', path.join(dir, 'ctr')]);
  assert.equal(r.code, 2, r.stderr);
  const file = escape(path.join(dir, CTR));
  assert.match(
    r.stderr,
    new RegExp(`^${file}:3:3: error: .* \\[BUILDIT_STEP_UNKNOWN\\]\\n {2}hint: .*package`, 'm'),
  );
  assert.match(r.stderr, new RegExp(`^${file}:7:11: error: .* \\[BUILDIT_SYNC_DEST\\]\\n {2}hint: `, 'm'));
  assert.match(
    r.stderr,
    new RegExp(`^${file}:9:11: error: .* \\[BUILDIT_IMAGE_TYPE_UNKNOWN\\]\\n {2}hint: `, 'm'),
  );
  assert.match(r.stderr, /^buildit: 3 problems; nothing was run\.$/m);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace without --debug');
});

test('an unknown command exits 2 (the real executable)', () => {
  const r = builditBin(['frobnicate']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /frobnicate/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('--var without = exits 2 in human output too (the real executable)', () => {
  const dir = helloFixture();
  const r = builditBin(['plan', path.join(dir, 'ctr'), '--var', 'version']);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /error: --var version: expected key=value \[BUILDIT_USAGE_VAR\]\n {2}hint: /);
});
