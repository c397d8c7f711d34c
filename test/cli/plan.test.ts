import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildit, builditBin } from '../helpers/cli.ts';
import { helloFixture } from '../helpers/testdir.ts';
import path from 'node:path';

test('plan examples/hello prints every package with a 64-hex identity', async () => {
  const r = await buildit(['plan', 'examples/hello']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Plan for Sysadmin42\/hello-1\.0-p1$/m);
  assert.match(r.stdout, /build\s+app-misc\/hello-1\.0\s+linux\/amd64\s+[0-9a-f]{64}\s+\.\/pkgs\/hello/);
});

test('plan --json prints package lines and a result line', async () => {
  const r = await buildit(['plan', 'examples/hello', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const pkgs = r.events.filter((e) => e['type'] === 'package');
  assert.equal(pkgs.length, 1);
  assert.equal(pkgs[0]!['name'], 'hello');
  assert.equal(pkgs[0]!['version'], '1.0');
  assert.equal(pkgs[0]!['source'], 'build');
  assert.match(String(pkgs[0]!['id']), /^[0-9a-f]{64}$/);
  assert.deepEqual(r.events.at(-1), {
    type: 'result',
    ok: true,
    packages: 1,
    store: 0,
    binhost: 0,
    build: 1,
  });
});

test('plan resolves the seed example examples/nginx-prod; the unpinned remote patch leaves the identity pending', async () => {
  const r = await buildit(['plan', 'examples/nginx-prod', '--json']);
  assert.equal(r.code, 0, r.stderr);
  const pkg = r.events.find((e) => e['type'] === 'package')!;
  assert.equal(pkg['atom'], 'www-servers/nginx-1.22.1');
  assert.equal(pkg['id'], null);
  assert.deepEqual(pkg['pending'], [
    'https://github.com/nginx/nginx/commit/52e4dc2f74fd032dace01acbe5eb29ddf7c1ad96.patch',
  ]);
});

test('plan says store for a package whose record is in the store', async () => {
  const dir = helloFixture();
  const first = await buildit(['plan', path.join(dir, 'ctr'), '--json']);
  const id = String(first.events.find((e) => e['type'] === 'package')!['id']);
  const store = path.join(dir, 'store');
  const { mkdirSync, writeFileSync } = await import('node:fs');
  mkdirSync(path.join(store, 'packages/linux-amd64', id.slice(0, 2)), { recursive: true });
  writeFileSync(path.join(store, 'packages/linux-amd64', id.slice(0, 2), `${id}.json`), '{}');
  const second = await buildit(['plan', path.join(dir, 'ctr'), '--json', '--store', store]);
  assert.equal(second.events.find((e) => e['type'] === 'package')!['source'], 'store');
});

test('the executable: --version, --help, and a usage error exits 2', () => {
  const version = builditBin(['--version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  const help = builditBin(['--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /plan \[options\] <dir>/);
  assert.match(help.stdout, /hash \[options\] <pkg>/);
  const bad = builditBin(['plan']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /missing required argument 'dir'/);
});
