/** Real temporary folders for tests, removed when the test process exits. */
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

const made: string[] = [];
process.on('exit', () => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

export type FileSpec = string | { content: string; mode?: number } | { symlink: string };

/** A fresh folder holding `files` (paths relative to it; folders are created). */
export function testdir(files: Record<string, FileSpec> = {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'buildit-test-'));
  made.push(dir);
  writeFiles(dir, files);
  return dir;
}

export function writeFiles(dir: string, files: Record<string, FileSpec>): void {
  for (const [rel, spec] of Object.entries(files)) {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    if (typeof spec === 'string') writeFileSync(file, spec);
    else if ('symlink' in spec) symlinkSync(spec.symlink, file);
    else {
      writeFileSync(file, spec.content);
      if (spec.mode !== undefined) chmodSync(file, spec.mode);
    }
  }
}

/**
 * A copy of a container dir of this repository (`examples/hello`,
 * `test/fixtures/…`) under `root` (default: a fresh folder), beside a copy of
 * the bundled recipes and a config naming them plus `config`. Builds write
 * container.lock: tests never build inside the repository.
 */
export function repoCopy(
  from: string,
  options: { root?: string; config?: string } = {},
): { root: string; ctr: string; out: string } {
  const root = options.root ?? testdir();
  const ctr = path.join(root, path.basename(from));
  cpSync(path.join(REPO, from), ctr, { recursive: true });
  cpSync(path.join(REPO, 'recipes'), path.join(root, 'recipes'), { recursive: true });
  writeFiles(root, { '.buildit-config.yaml': `recipes: [./recipes]\n${options.config ?? ''}` });
  return { root, ctr, out: path.join(root, 'out') };
}

/** A small valid recipe repository entry and container, to be varied by tests. */
export const HELLO_RECIPE = `description: test program
license: MIT
source:
  - path: ./files/src
use:
  shout: { default: false, enable: [SHOUT=1] }
  motd: { default: true, enable: [MOTD=1], disable: [MOTD=0] }
env: { CFLAGS: -O2 }
build:
  - make
  - make install DESTDIR=$DESTDIR
`;

export const HELLO_PKG = `base: app-test/hello-1.0
author: Someone <someone@example.org>
patches:
  patches/one.patch: "first"
  patches/two.patch: "second"
use:
  with: [shout]
`;

export const HELLO_CONTAINER = `- vars:
    author: Tester
    name: hello
    version: 1.0
- package:
    type: embedded
    path: ./pkgs/hello
- sync:
    src: ./files/motd.txt
    dest: /etc/motd
    chmod: 0644
- image:
    type: oci
    content: |
      { "Cmd": ["/usr/bin/hello"], "Labels": { "name": "{{ name }}" } }
`;

/** A container dir with its own recipe repository and config: every file a test may vary. */
export function helloFixture(overrides: Record<string, FileSpec> = {}): string {
  return testdir({
    '.buildit-config.yaml': 'recipes: [./recipes]\n',
    'recipes/app-test/hello/hello-1.0.yaml': HELLO_RECIPE,
    'recipes/app-test/hello/files/src/hello.c': 'int main(void) { return 0; }\n',
    'recipes/app-test/hello/files/src/Makefile': 'all:\n\tcc -o hello hello.c\n',
    'ctr/container.yaml': HELLO_CONTAINER,
    'ctr/pkgs/hello/pkg.yaml': HELLO_PKG,
    'ctr/pkgs/hello/patches/one.patch':
      '--- a/hello.c\n+++ b/hello.c\n@@ -1 +1 @@\n-int main(void) { return 0; }\n+int main(void) { return 1; }\n',
    'ctr/pkgs/hello/patches/two.patch':
      '--- a/Makefile\n+++ b/Makefile\n@@ -1,2 +1,2 @@\n all:\n-\tcc -o hello hello.c\n+\tcc -O2 -o hello hello.c\n',
    'ctr/files/motd.txt': 'welcome\n',
    ...overrides,
  });
}
