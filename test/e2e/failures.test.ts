/**
 * Failures leave nothing half-written: the store has no record or artifact
 * of a failed package, tmp/ and locks/ are empty, and no image is written.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildit, REPO, testEnv } from '../helpers/cli.ts';
import { testdir, type FileSpec } from '../helpers/testdir.ts';

const RECIPE = `description: a program that builds
source:
  - path: ./files/src
build:
  - cc -O2 -o hello hello.c
  - install -D -m 0755 hello "$DESTDIR/usr/bin/hello"
`;

const CONTAINER = `- vars: { name: t, version: "1" }
- package: { type: embedded, path: ./pkgs/hello }
- sync: { src: ./files/motd, dest: /etc/motd }
- image:
    type: oci
    content: |
      { "Cmd": ["/usr/bin/hello"] }
`;

function fixture(overrides: Record<string, FileSpec> = {}): {
  dir: string;
  ctr: string;
  out: string;
  env: NodeJS.ProcessEnv;
} {
  const dir = testdir({
    '.buildit-config.yaml': 'recipes: [./recipes]\n',
    'recipes/app-test/hello/hello-1.0.yaml': RECIPE,
    'recipes/app-test/hello/files/src/hello.c':
      '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n',
    'ctr/container.yaml': CONTAINER,
    'ctr/pkgs/hello/pkg.yaml': 'base: app-test/hello-1.0\n',
    'ctr/files/motd': 'hi\n',
    ...overrides,
  });
  return { dir, ctr: path.join(dir, 'ctr'), out: path.join(dir, 'out'), env: testEnv() };
}

/** Nothing of a failed package is visible, and nothing is left over. */
function assertConsistent(env: NodeJS.ProcessEnv, out: string): void {
  const store = env['BUILDIT_HOME']!;
  const list = (sub: string) =>
    existsSync(path.join(store, sub)) ? readdirSync(path.join(store, sub), { recursive: true }) : [];
  assert.deepEqual(
    list('packages').filter((f) => String(f).endsWith('.json')),
    [],
    'no record',
  );
  assert.deepEqual(list('tmp'), [], 'tmp/ is empty');
  assert.deepEqual(list('locks'), [], 'no lock left');
  assert.ok(!existsSync(out) || readdirSync(out).length === 0, 'no image written');
}

async function fails(
  f: ReturnType<typeof fixture>,
  code: string,
  exit: number,
): Promise<Record<string, unknown>> {
  const r = await buildit([f.ctr, '-o', f.out, '--json'], { env: f.env });
  assert.equal(r.code, exit, r.stdout + r.stderr);
  const error = r.events.find((e) => e['type'] === 'error')!;
  assert.equal(error['code'], code, JSON.stringify(error));
  assertConsistent(f.env, f.out);
  return error;
}

test('a sync src escaping through a symlink: exit 2, nothing written', async () => {
  const f = fixture({ 'ctr/files/motd': { symlink: '/etc/hostname' } });
  await fails(f, 'BUILDIT_PATH_ESCAPE', 2);
});

test('a template naming an unknown variable: exit 2 at its line', async () => {
  const f = fixture({
    'ctr/container.yaml': CONTAINER.replace('"Cmd": ["/usr/bin/hello"]', '"Cmd": ["{{ nope }}"]'),
  });
  const e = await fails(f, 'BUILDIT_TEMPLATE_VARIABLE', 2);
  assert.equal(e['line'], 7);
});

test('a template rendering invalid JSON: the error shows the rendered line', async () => {
  const f = fixture({
    'ctr/container.yaml': CONTAINER.replace('"Cmd": ["/usr/bin/hello"]', '"Cmd": [{{{ name }}}]'),
  });
  const e = await fails(f, 'BUILDIT_TEMPLATE_JSON', 2);
  assert.equal(e['line'], 7);
  assert.match(String(e['hint']), /rendered line 1: \{ "Cmd": \[t\] \}/);
});

test('a manifest failing the ACI schema: exit 2 naming the field', async () => {
  const f = fixture({
    'ctr/container.yaml': CONTAINER.replace(
      'type: oci\n    content: |\n      { "Cmd": ["/usr/bin/hello"] }',
      'type: aci\n    content: |\n      { "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "Not Valid" }',
    ),
  });
  const e = await fails(f, 'BUILDIT_IMAGE_SCHEMA', 2);
  assert.match(String(e['message']), /name/);
});

test('a patch that does not apply: exit 1 naming the file and hunk', async () => {
  const f = fixture({
    'ctr/pkgs/hello/pkg.yaml': 'base: app-test/hello-1.0\npatches:\n  fix.patch: "does not fit"\n',
    'ctr/pkgs/hello/fix.patch':
      '--- a/hello.c\n+++ b/hello.c\n@@ -1,2 +1,2 @@\n #include <stdio.h>\n-int main(void) { puts("bye"); return 0; }\n+int main(void) { puts("ciao"); return 0; }\n',
  });
  const e = await fails(f, 'BUILDIT_PATCH_APPLY', 1);
  assert.match(String(e['hint']), /hello\.c/);
  assert.match(String(e['hint']), /hunk #1 FAILED/i);
});

test('a source whose bytes do not match its sha256: exit 1 naming both digests, nothing stored', async () => {
  const dir = testdir({ 'src.tar': 'not really a tarball' });
  const actual = createHash('sha256').update('not really a tarball').digest('hex');
  const f = fixture({
    'recipes/app-test/hello/hello-1.0.yaml': RECIPE.replace(
      '  - path: ./files/src',
      `  - url: file://${dir}/src.tar\n    sha256: ${'0'.repeat(64)}`,
    ),
  });
  const e = await fails(f, 'BUILDIT_FETCH_SHA256', 1);
  assert.match(String(e['message']), new RegExp(`${'0'.repeat(64)}.*${actual}`));
  const blobs = path.join(f.env['BUILDIT_HOME']!, 'blobs');
  assert.ok(
    !existsSync(blobs) || readdirSync(blobs, { recursive: true }).every((p) => !String(p).includes(actual)),
  );
});

test('a failing build line: exit 1 with the last 30 log lines and the log path', async () => {
  const f = fixture({
    'recipes/app-test/hello/hello-1.0.yaml': RECIPE.replace(
      '  - cc -O2',
      '  - for i in $(seq 1 100); do echo "line $i"; done; exit 3\n  - cc -O2',
    ),
  });
  const e = await fails(f, 'BUILDIT_BUILD_FAILED', 1);
  const hint = String(e['hint']);
  assert.match(hint, /line 100/);
  assert.match(hint, /line 71\b/);
  assert.doesNotMatch(hint, /line 70\b/);
  assert.match(hint, /full log: .*\.log/);
});

test('a build killed with SIGKILL leaves no record or artifact; the next run completes', async () => {
  const f = fixture({
    'recipes/app-test/hello/hello-1.0.yaml': RECIPE.replace(
      '  - cc -O2',
      '  - touch "$HOME/../started"; sleep 2\n  - cc -O2',
    ),
  });
  const child = spawn(process.execPath, [path.join(REPO, 'bin/buildit.js'), f.ctr, '-o', f.out, '--json'], {
    env: f.env,
    stdio: 'ignore',
    detached: true,
  });
  const store = f.env['BUILDIT_HOME']!;
  const started = () =>
    existsSync(path.join(store, 'tmp')) &&
    readdirSync(path.join(store, 'tmp')).some((d) => existsSync(path.join(store, 'tmp', d, 'started')));
  for (let i = 0; i < 200 && !started(); i++) await sleep(50);
  assert.ok(started(), 'the build started');
  process.kill(-child.pid!, 'SIGKILL');
  await new Promise((resolve) => child.on('exit', resolve));
  const records = existsSync(path.join(store, 'packages'))
    ? readdirSync(path.join(store, 'packages'), { recursive: true })
    : [];
  assert.deepEqual(
    records.filter((p) => String(p).endsWith('.json')),
    [],
  );
  assert.ok(!existsSync(f.out) || readdirSync(f.out).length === 0);
  writeFileSync(path.join(f.dir, 'marker'), 'killed');
  const again = await buildit([f.ctr, '-o', f.out, '--json'], { env: f.env });
  assert.equal(again.code, 0, again.stdout + again.stderr);
  assert.equal(again.events.find((e) => e['type'] === 'package')!['source'], 'build');
});
