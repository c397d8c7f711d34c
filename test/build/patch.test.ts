import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { applyPatches, patchAuthor, readPatchOutput, stripName } from '../../src/build/patch.ts';
import { BuilditError } from '../../src/errors.ts';
import { requireTool } from '../helpers/tools.ts';
import { testdir } from '../helpers/testdir.ts';

const HELLO = '#include <stdio.h>\n\nint main(void) {\n  puts("hello");\n  return 0;\n}\n';

/** A source tree and a folder of patches beside it (never inside: the tree must stay clean). */
function workspace(patches: Record<string, string>): { src: string; patch: (name: string) => string } {
  requireTool('patch');
  const src = testdir({ 'hello.c': HELLO, Makefile: 'all:\n\tcc -o hello hello.c\n' });
  const dir = testdir(patches);
  return { src, patch: (name) => path.join(dir, name) };
}

const ONE = `--- a/hello.c
+++ b/hello.c
@@ -1,6 +1,6 @@
 #include <stdio.h>
 
 int main(void) {
-  puts("hello");
+  puts("hello, world");
   return 0;
 }
`;

// Applies only after ONE: it changes the line ONE makes (fuzz cannot help).
const TWO = `--- a/hello.c
+++ b/hello.c
@@ -3,4 +3,4 @@
 int main(void) {
-  puts("hello, world");
+  puts("hello, world!");
   return 0;
 }
`;

async function fails(promise: Promise<unknown>, code: string): Promise<BuilditError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BuilditError, `expected a BuilditError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.equal(error.exitCode, 1);
    return error;
  }
  assert.fail(`expected ${code}`);
}

function allFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

test('patches apply in order, each with its own strip', async () => {
  const { src, patch } = workspace({
    'one.patch': ONE,
    'two.patch': TWO,
    'three.patch':
      '--- Makefile\n+++ Makefile\n@@ -1,2 +1,2 @@\n all:\n-\tcc -o hello hello.c\n+\tcc -O2 -o hello hello.c\n',
  });
  await applyPatches(src, [
    { file: patch('one.patch'), strip: 1, label: 'one.patch' },
    { file: patch('two.patch'), strip: 1, label: 'two.patch' },
    { file: patch('three.patch'), strip: 0, label: 'three.patch' },
  ]);
  const hello = readFileSync(path.join(src, 'hello.c'), 'utf8');
  assert.match(hello, /puts\("hello, world!"\);/);
  assert.match(readFileSync(path.join(src, 'Makefile'), 'utf8'), /-O2/);
  assert.deepEqual(allFiles(src), ['Makefile', 'hello.c']);
});

test('the wrong order fails: message names the patch, hint the file and hunk, rejects quoted and not left behind', async () => {
  const { src, patch } = workspace({
    'two.patch': `--- a/Makefile
+++ b/Makefile
@@ -1,2 +1,2 @@
 all:
-\tcc -o hello hello.c
+\tcc -g -o hello hello.c
${TWO}`,
  });
  const location = { file: '/ctr/pkgs/hello/pkg.yaml', line: 4, col: 3 };
  const error = await fails(
    applyPatches(src, [{ file: patch('two.patch'), strip: 1, label: 'patches/two.patch', location }]),
    'BUILDIT_PATCH_APPLY',
  );
  assert.equal(error.message, 'patch patches/two.patch does not apply');
  assert.deepEqual(error.location, location);
  assert.match(error.hint ?? '', /^hello\.c: hunk #1 FAILED at line 3$/m);
  assert.match(error.hint ?? '', /hello\.c: 1 out of 1 hunk FAILED/);
  assert.match(error.hint ?? '', /rejected:\n {2}--- hello\.c/);
  assert.match(error.hint ?? '', /\+ {2}puts\("hello, world!"\);/);
  assert.deepEqual(allFiles(src), ['Makefile', 'hello.c']);
});

test('a second hunk that fails is named by number', async () => {
  const { src, patch } = workspace({
    'two-hunks.patch': `--- a/hello.c
+++ b/hello.c
@@ -1,2 +1,3 @@
 #include <stdio.h>
+#include <stdlib.h>
 
@@ -4,3 +5,3 @@
   puts("hello");
-  return 7;
+  return 1;
 }
`,
  });
  const error = await fails(
    applyPatches(src, [{ file: patch('two-hunks.patch'), strip: 1, label: 'two-hunks.patch' }]),
    'BUILDIT_PATCH_APPLY',
  );
  assert.match(error.hint ?? '', /hello\.c: hunk #2 FAILED at line 5/);
  assert.match(error.hint ?? '', /1 out of 2 hunks FAILED/);
  assert.ok(!allFiles(src).some((f) => f.endsWith('.rej') || f.endsWith('.orig')), allFiles(src).join(' '));
});

test('a reversed (or already applied) patch is a failure that says so', async () => {
  const { src, patch } = workspace({ 'one.patch': ONE });
  const one = { file: patch('one.patch'), strip: 1, label: 'one.patch' };
  await applyPatches(src, [one]);
  const error = await fails(applyPatches(src, [one]), 'BUILDIT_PATCH_APPLY');
  assert.equal(error.message, 'patch one.patch does not apply: it is reversed or already applied');
  assert.match(error.hint ?? '', /hello\.c: reversed \(or previously applied\) patch detected/);
  assert.deepEqual(allFiles(src), ['Makefile', 'hello.c']);
});

test('a wrong strip says no file was found', async () => {
  const { src, patch } = workspace({ 'one.patch': ONE });
  const error = await fails(
    applyPatches(src, [{ file: patch('one.patch'), strip: 0, label: 'one.patch' }]),
    'BUILDIT_PATCH_APPLY',
  );
  assert.match(
    error.hint ?? '',
    /no file to patch for a\/hello\.c \/ b\/hello\.c: is the strip \(-p\) right\?/,
  );
});

test('a patch naming a file outside the tree is refused before patch runs', async () => {
  const cases: [string, number, RegExp][] = [
    [
      '--- a/../../evil\n+++ b/../../evil\n@@ -0,0 +1 @@\n+pwned\n',
      1,
      /"b\/\.\.\/\.\.\/evil"|"a\/\.\.\/\.\.\/evil"/,
    ],
    ['--- /dev/null\n+++ /tmp/evil-buildit\n@@ -0,0 +1 @@\n+pwned\n', 0, /"\/tmp\/evil-buildit"/],
    [
      'diff --git a/x b/../x\nnew file mode 100644\n--- /dev/null\n+++ b/x\n@@ -0,0 +1 @@\n+y\n',
      1,
      /"b\/\.\.\/x"/,
    ],
    ['diff --git a/x b/y\nsimilarity index 100%\nrename from x\nrename to ../y\n', 1, /"\.\.\/y"/],
    ['Index: ../evil\n--- a/ok\n+++ b/ok\n@@ -0,0 +1 @@\n+y\n', 0, /"\.\.\/evil"/],
    [
      'diff --git a/lnk b/lnk\nnew file mode 120000\n--- /dev/null\n+++ b/lnk\n@@ -0,0 +1 @@\n+/etc\n\\ No newline at end of file\n',
      1,
      /lnk a symlink to "\/etc"/,
    ],
  ];
  for (const [text, strip, name] of cases) {
    const { src, patch } = workspace({ 'evil.patch': text });
    const error = await fails(
      applyPatches(src, [
        { file: patch('evil.patch'), strip, label: 'evil.patch', location: { file: 'pkg.yaml', line: 3 } },
      ]),
      'BUILDIT_PATCH_UNSAFE',
    );
    assert.match(error.message, /^patch evil\.patch /);
    assert.match(error.message, name);
    assert.deepEqual(error.location, { file: 'pkg.yaml', line: 3 });
    assert.deepEqual(allFiles(src), ['Makefile', 'hello.c']);
    for (const outside of ['/evil', '/tmp/evil-buildit', path.join(path.dirname(src), 'y')]) {
      assert.equal(existsSync(outside), false, outside);
    }
  }
});

test('names that only look dangerous are not: removed "-- ../" lines, /dev/null, -p1 of an absolute name', async () => {
  const { src, patch } = workspace({
    'lua.patch': `--- a/script.lua
+++ b/script.lua
@@ -1,2 +1,2 @@
--- see ../README for ../docs
+-- see README
 return 1
`,
    'new.patch':
      'diff --git a/new.txt b/new.txt\nnew file mode 100644\n--- /dev/null\n+++ b/new.txt\n@@ -0,0 +1 @@\n+new\n',
    'abs.patch':
      '--- /build/pkg/Makefile\n+++ /build/pkg/Makefile\n@@ -1,2 +1,2 @@\n all:\n-\tcc -o hello hello.c\n+\tcc -Os -o hello hello.c\n',
  });
  writeFileSync(path.join(src, 'script.lua'), '-- see ../README for ../docs\nreturn 1\n');
  await applyPatches(src, [
    { file: patch('lua.patch'), strip: 1, label: 'lua.patch' },
    { file: patch('new.patch'), strip: 1, label: 'new.patch' },
    { file: patch('abs.patch'), strip: 3, label: 'abs.patch' },
  ]);
  assert.equal(readFileSync(path.join(src, 'script.lua'), 'utf8'), '-- see README\nreturn 1\n');
  assert.equal(readFileSync(path.join(src, 'new.txt'), 'utf8'), 'new\n');
  assert.match(readFileSync(path.join(src, 'Makefile'), 'utf8'), /-Os/);
  assert.ok(lstatSync(path.join(src, 'new.txt')).isFile());
});

test('stripName follows GNU patch -p: runs of slashes count once; too few components give nothing', () => {
  const cases: [string, number, string | undefined][] = [
    ['a/b/c.c', 0, 'a/b/c.c'],
    ['a/b/c.c', 1, 'b/c.c'],
    ['/u/howard/src/blurfl.c', 1, 'u/howard/src/blurfl.c'],
    ['a//b/c', 1, 'b/c'],
    ['c.c', 1, undefined],
    ['a/../../x', 1, '../../x'],
  ];
  for (const [name, n, expected] of cases) assert.equal(stripName(name, n), expected, `${name} -p${n}`);
});

test('readPatchOutput reads GNU patch messages', () => {
  const report = readPatchOutput(
    [
      'patching file hello.c',
      'Hunk #1 succeeded at 3 (offset 1 line).',
      'Hunk #2 FAILED at 10.',
      '1 out of 2 hunks FAILED -- saving rejects to file hello.c.rej',
      "patching file 'with space.c'",
      'Reversed (or previously applied) patch detected!  Skipping patch.',
      '1 out of 1 hunk ignored -- saving rejects to file with space.c.rej',
    ].join('\n'),
  );
  assert.deepEqual(report.failed, [{ file: 'hello.c', hunk: 2, line: 10 }]);
  assert.deepEqual(report.reversed, ['with space.c']);
  assert.deepEqual(report.lines, [
    'hello.c: hunk #2 FAILED at line 10',
    'hello.c: 1 out of 2 hunks FAILED',
    'with space.c: reversed (or previously applied) patch detected',
    'with space.c: 1 out of 1 hunk ignored',
  ]);
  assert.deepEqual(readPatchOutput('patch: **** Only garbage was found in the patch input.').lines, [
    'Only garbage was found in the patch input.',
  ]);
});

test("a patch's author is the From: of its mail header; a bare diff names none", async () => {
  const dir = testdir({
    'mail.patch':
      'From 1234abcd Mon Sep 17 00:00:00 2001\nFrom: Jane Doe <jane@example.org>\nDate: Sun, 1 Nov 2026 10:00:00 +0000\nSubject: [PATCH] fix\n\n---\n a.txt | 2 +-\n\ndiff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+b\n',
    'bare.patch': '--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-a\n+From: not a header\n',
  });
  assert.equal(await patchAuthor(path.join(dir, 'mail.patch')), 'Jane Doe <jane@example.org>');
  assert.equal(await patchAuthor(path.join(dir, 'bare.patch')), undefined);
});
