/**
 * `buildit verify`: the examples rebuild byte for byte from source in a
 * fresh store; a package that writes the date is caught, naming the file;
 * a damaged store blob and a container never built are exit 1; baselines
 * come from a signed binhost when the store lacks them. The main store is
 * never changed and the temporary store never left behind.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { buildit, REPO, testEnv, type CliResult } from '../helpers/cli.ts';
import { repoCopy, testdir } from '../helpers/testdir.ts';

/** Every record and blob of a store with the sha256 of its bytes: what verify must leave as it is. */
function storeSnapshot(store: string): Map<string, string> {
  const files = new Map<string, string>();
  for (const top of ['packages', 'blobs']) {
    if (!existsSync(path.join(store, top))) continue;
    for (const rel of readdirSync(path.join(store, top), { recursive: true, withFileTypes: true })) {
      if (!rel.isFile()) continue;
      const file = path.join(rel.parentPath, rel.name);
      files.set(path.relative(store, file), createHash('sha256').update(readFileSync(file)).digest('hex'));
    }
  }
  return files;
}

function verdicts(r: CliResult): Map<string, Record<string, unknown>> {
  return new Map(r.events.filter((e) => e['type'] === 'verify').map((e) => [String(e['atom']), e]));
}

function rebuilds(r: CliResult): number {
  return r.events.filter((e) => e['type'] === 'phase' && e['phase'] === 'rebuild').length;
}

/** The temporary store lived in the main store's tmp/ and is gone. */
function assertNoTempStore(store: string): void {
  const tmp = path.join(store, 'tmp');
  assert.deepEqual(existsSync(tmp) ? readdirSync(tmp) : [], [], 'nothing left in the store’s tmp/');
}

async function build(
  ctr: string,
  out: string,
  env: NodeJS.ProcessEnv,
  extra: string[] = [],
): Promise<CliResult> {
  const r = await buildit([ctr, '-o', out, '--json', ...extra], { env });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  return r;
}

/** A copy of examples/hello built into a fresh store: its hello package's record file and artifact hex. */
async function builtHello(): Promise<{
  ctr: string;
  env: NodeJS.ProcessEnv;
  store: string;
  recordFile: string;
  hex: string;
}> {
  const { ctr, out } = repoCopy('examples/hello');
  const env = testEnv();
  const store = env['BUILDIT_HOME']!;
  const built = await build(ctr, out, env);
  const id = String(built.events.find((e) => e['type'] === 'package')!['id']);
  const recordFile = path.join(store, 'packages/linux-amd64', id.slice(0, 2), `${id}.json`);
  const hex = String(JSON.parse(readFileSync(recordFile, 'utf8')).artifact.digest).slice('sha256:'.length);
  return { ctr, env, store, recordFile, hex };
}

test('examples/hello: verify --rebuild builds it again from source, byte for byte the same; the store is untouched', async () => {
  const { ctr, out } = repoCopy('examples/hello');
  const env = testEnv();
  const store = env['BUILDIT_HOME']!;
  const built = await build(ctr, out, env);
  const id = built.events.find((e) => e['type'] === 'package')!['id'];
  const before = storeSnapshot(store);

  const r = await buildit(['verify', ctr, '--rebuild', '--json'], { env });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(rebuilds(r), 1, 'the package was rebuilt');
  const hello = verdicts(r).get('app-misc/hello-1.0')!;
  assert.equal(hello['result'], 'same');
  assert.equal(hello['baseline'], 'store');
  assert.equal(hello['id'], id);
  assert.deepEqual(hello['paths'], []);
  assert.deepEqual(r.events.at(-1), { type: 'result', ok: true, packages: 1, same: 1 });
  assert.deepEqual(storeSnapshot(store), before, 'no record or blob added or changed');
  assertNoTempStore(store);

  const check = await buildit(['verify', ctr], { env });
  assert.equal(check.code, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /^ {2}\[INTACT\] app-misc\/hello-1\.0 \(id [0-9a-f]{8}…\)$/m);
  assert.match(check.stdout, /^1 package: 1 intact\.$/m);
});

test('examples/multi: every package of the graph rebuilds the same, the remote patch taken from the store', async () => {
  const patch = readFileSync(path.join(REPO, 'test/fixtures/multi/add-signature.patch'));
  const server = http.createServer((_req, res) => res.end(patch));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { ctr, out } = repoCopy('examples/multi');
  const pkg = path.join(ctr, 'pkgs/greet-bye/pkg.yaml');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/greet-bye/add-signature.patch`;
  writeFileSync(
    pkg,
    readFileSync(pkg, 'utf8').replace('https://patches.buildit.example/greet-bye/add-signature.patch', url),
  );
  const env = testEnv();
  const store = env['BUILDIT_HOME']!;
  try {
    await build(ctr, out, env, ['-j2']);
  } finally {
    server.close();
  }
  const before = storeSnapshot(store);
  // The patch server is gone: the rebuild takes the patch from the store (checked by its sha256).
  const r = await buildit(['verify', ctr, '--rebuild', '-j2', '--json'], { env });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const all = verdicts(r);
  assert.deepEqual([...all.keys()].sort(), [
    'app-misc/greet-bye-1.0',
    'app-misc/greet-data-1.0',
    'app-misc/greet-hello-1.0',
    'dev-libs/libgreet-1.0',
  ]);
  for (const [atom, verdict] of all) assert.equal(verdict['result'], 'same', atom);
  assert.equal(rebuilds(r), 4);
  assert.deepEqual(storeSnapshot(store), before);
  assertNoTempStore(store);
});

test('a package that writes the date is caught: verify --rebuild names it and the file, exit 1', async () => {
  const { ctr, out } = repoCopy('test/fixtures/verify/stamp');
  const env = testEnv();
  const store = env['BUILDIT_HOME']!;
  await build(ctr, out, env);
  const before = storeSnapshot(store);

  const human = await buildit(['verify', ctr, '--rebuild'], { env });
  assert.equal(human.code, 1, human.stdout + human.stderr);
  assert.match(human.stdout, /^ {2}\[SAME\] local\/steady-1\.0 \(id [0-9a-f]{8}…\)$/m);
  assert.match(
    human.stdout,
    /^ {2}\[DIFFERS\] local\/stamp-1\.0 \(id [0-9a-f]{8}…\): \/usr\/share\/stamp\/when \(content\)$/m,
  );
  assert.match(human.stdout, /^2 packages: 1 same, 1 differs\.$/m);
  assert.match(
    human.stderr,
    /error: 1 package not reproducible: local\/stamp-1\.0 \(\/usr\/share\/stamp\/when\) \[BUILDIT_VERIFY_DIFFERS\]/,
  );
  assert.match(human.stderr, /hint: .*SOURCE_DATE_EPOCH/);

  const r = await buildit(['verify', ctr, '--rebuild', '--json'], { env });
  assert.equal(r.code, 1);
  const stamp = verdicts(r).get('local/stamp-1.0')!;
  assert.equal(stamp['result'], 'differs');
  assert.equal(stamp['baseline'], 'store');
  assert.equal(stamp['name'], 'stamp');
  assert.equal(stamp['version'], '1.0');
  // README is the same in both: only the file holding the time differs.
  assert.deepEqual(stamp['paths'], [{ path: '/usr/share/stamp/when', what: 'content' }]);
  assert.equal(verdicts(r).get('local/steady-1.0')!['result'], 'same');
  const error = r.events.find((e) => e['type'] === 'error')!;
  assert.equal(error['code'], 'BUILDIT_VERIFY_DIFFERS');
  assert.deepEqual(r.events.at(-1), { type: 'result', ok: false, exitCode: 1 });
  assert.deepEqual(storeSnapshot(store), before, 'the baseline stays as it was');
  assertNoTempStore(store);

  // Without --rebuild the stored artifacts are intact: nothing to report.
  const check = await buildit(['verify', ctr, '--json'], { env });
  assert.equal(check.code, 0, check.stdout);
  assert.deepEqual(
    [...verdicts(check).values()].map((v) => v['result']),
    ['intact', 'intact'],
  );
});

test('an artifact compressed by another gzip: the same tar, reported as compression only', async () => {
  const { ctr, env, store, recordFile, hex } = await builtHello();
  // What a baseline packed elsewhere looks like: the same tar (diff_id), other gzip bytes.
  const record = JSON.parse(readFileSync(recordFile, 'utf8'));
  const regzipped = gzipSync(
    gunzipSync(readFileSync(path.join(store, 'blobs/sha256', hex.slice(0, 2), hex))),
    {
      level: 1,
    },
  );
  const newHex = createHash('sha256').update(regzipped).digest('hex');
  assert.notEqual(newHex, hex);
  mkdirSync(path.join(store, 'blobs/sha256', newHex.slice(0, 2)), { recursive: true });
  writeFileSync(path.join(store, 'blobs/sha256', newHex.slice(0, 2), newHex), regzipped);
  record.artifact = { ...record.artifact, digest: `sha256:${newHex}`, size: regzipped.length };
  writeFileSync(recordFile, JSON.stringify(record));

  const r = await buildit(['verify', ctr, '--rebuild', '--json'], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const hello = verdicts(r).get('app-misc/hello-1.0')!;
  assert.equal(hello['result'], 'differs');
  assert.deepEqual(hello['paths'], []);
  assert.equal(hello['compressionOnly'], true);
  assert.match(String(hello['detail']), /compressed differently/);
  const error = r.events.find((e) => e['type'] === 'error')!;
  assert.equal(error['code'], 'BUILDIT_VERIFY_DIFFERS');
  assert.match(String(error['hint']), /only its gzip compression differs/);
});

test('verify without --rebuild finds a damaged store blob: exit 1, naming the record to remove', async () => {
  const { ctr, env, store, recordFile, hex } = await builtHello();

  const good = await buildit(['verify', ctr, '--json'], { env });
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.equal(verdicts(good).get('app-misc/hello-1.0')!['result'], 'intact');

  appendFileSync(path.join(store, 'blobs/sha256', hex.slice(0, 2), hex), 'damage');
  const r = await buildit(['verify', ctr, '--json'], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const verdict = verdicts(r).get('app-misc/hello-1.0')!;
  assert.equal(verdict['result'], 'corrupt');
  assert.match(String(verdict['detail']), new RegExp(`does not hash to sha256:${hex}`));
  const error = r.events.find((e) => e['type'] === 'error')!;
  assert.equal(error['code'], 'BUILDIT_VERIFY_CORRUPT');
  assert.ok(String(error['hint']).includes(recordFile), String(error['hint']));
});

test('a container never built: every package missing, exit 1, and nothing rebuilt', async () => {
  const { ctr } = repoCopy('examples/hello');
  const env = testEnv();
  const store = env['BUILDIT_HOME']!;
  for (const argv of [
    ['verify', ctr, '--json'],
    ['verify', ctr, '--rebuild', '--json'],
  ]) {
    const r = await buildit(argv, { env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.equal(verdicts(r).get('app-misc/hello-1.0')!['result'], 'missing');
    assert.equal(verdicts(r).get('app-misc/hello-1.0')!['baseline'], null);
    assert.equal(rebuilds(r), 0, argv.join(' '));
    const error = r.events.find((e) => e['type'] === 'error')!;
    assert.equal(error['code'], 'BUILDIT_VERIFY_MISSING');
    assert.match(String(error['hint']), /build the container first/);
  }
  const human = await buildit(['verify', ctr, '--rebuild'], { env });
  assert.equal(human.code, 1);
  assert.match(human.stdout, /^ {2}\[MISSING\] app-misc\/hello-1\.0 \(id [0-9a-f]{8}…\)$/m);
  assert.match(human.stdout, /^1 package: 1 missing; nothing was rebuilt\.$/m);
  assert.match(human.stderr, /\[BUILDIT_VERIFY_MISSING\]/);
  assert.equal(existsSync(path.join(store, 'packages')), false, 'no record was written');
  assertNoTempStore(store);
});

test('a rebuild that fails is reported like a failed build, its log kept in the store’s logs/verify/', async () => {
  const flag = path.join(testdir(), 'flag');
  const dir = testdir({
    'ctr/container.yaml':
      '- vars: { name: t, version: "1" }\n- package: { type: embedded, path: ./pkgs/once }\n- image: { type: oci, content: "{}" }\n',
    'ctr/pkgs/once/pkg.yaml': `name: once\nversion: "1.0"\nbuild:\n  - echo checking for the flag\n  - test ! -e ${flag}\n  - mkdir -p "$DESTDIR/usr/share/once" && echo once > "$DESTDIR/usr/share/once/file"\n`,
  });
  const ctr = path.join(dir, 'ctr');
  const env = testEnv();
  const store = env['BUILDIT_HOME']!;
  const built = await build(ctr, path.join(dir, 'out'), env, ['--sandbox', 'off']);
  const id = String(built.events.find((e) => e['type'] === 'package')!['id']);
  const before = storeSnapshot(store);
  writeFileSync(flag, '');

  const r = await buildit(['verify', ctr, '--rebuild', '--sandbox', 'off', '--json'], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const error = r.events.find((e) => e['type'] === 'error')!;
  assert.equal(error['code'], 'BUILDIT_BUILD_FAILED');
  const kept = path.join(store, 'logs/verify', `${id}.log`);
  assert.ok(String(error['hint']).endsWith(`full log: ${kept}`), String(error['hint']));
  assert.match(readFileSync(kept, 'utf8'), /checking for the flag/);
  assert.equal(verdicts(r).size, 0, 'nothing compared');
  assert.deepEqual(storeSnapshot(store), before);
  assertNoTempStore(store);
});

test('baselines from a signed binhost: the stamp package differs from the binhost’s artifact, steady is the same', async () => {
  const keys = testdir();
  const gen = await buildit(['keygen', 'verifier', '--out', keys]);
  assert.equal(gen.code, 0, gen.stderr);
  const binhost = testdir();
  const a = repoCopy('test/fixtures/verify/stamp', {
    config: `repository:\n  name: local\n  upload-path: file://${binhost}\n  download-path: file://${binhost}\nsigning-key: ${path.join(keys, 'verifier.sec')}\n`,
  });
  await build(a.ctr, a.out, testEnv(), ['--push']);

  const pub = readFileSync(path.join(keys, 'verifier.pub'), 'utf8').trim();
  const b = repoCopy('test/fixtures/verify/stamp', { config: `trusted-keys:\n  - ${pub}\n` });
  const env = testEnv();
  const store = env['BUILDIT_HOME']!;
  const discover = `--discover=file://${binhost}`;

  const check = await buildit(['verify', b.ctr, discover, '--json'], { env });
  assert.equal(check.code, 0, check.stdout + check.stderr);
  for (const verdict of verdicts(check).values()) {
    assert.equal(verdict['result'], 'intact');
    assert.equal(verdict['baseline'], `file://${binhost}`);
  }

  const r = await buildit(['verify', b.ctr, '--rebuild', discover, '--json'], { env });
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const stamp = verdicts(r).get('local/stamp-1.0')!;
  assert.equal(stamp['result'], 'differs');
  assert.equal(stamp['baseline'], `file://${binhost}`);
  assert.deepEqual(stamp['paths'], [{ path: '/usr/share/stamp/when', what: 'content' }]);
  assert.equal(verdicts(r).get('local/steady-1.0')!['result'], 'same');
  assert.equal(existsSync(path.join(store, 'packages')), false, 'the binhost’s records were not copied in');
  assertNoTempStore(store);

  const offline = await buildit(['verify', b.ctr, '--offline', '--json'], { env });
  assert.equal(offline.code, 1);
  assert.deepEqual(
    [...verdicts(offline).values()].map((v) => v['result']),
    ['missing', 'missing'],
  );
});

test('a container dir with errors fails as a build would: exit 2, every problem located, nothing verified', async () => {
  const dir = testdir({
    'container.yaml':
      "- vars: { name: x }\n- package: { type: embedded, path: ./nope }\n- image: { type: oci, content: '{}' }\n",
  });
  const r = await buildit(['verify', dir, '--rebuild', '--json'], { env: testEnv() });
  assert.equal(r.code, 2, r.stdout + r.stderr);
  const error = r.events.find((e) => e['type'] === 'error')!;
  assert.equal(error['code'], 'BUILDIT_PKG_MISSING');
  assert.equal(error['file'], path.join(dir, 'container.yaml'));
  assert.equal(verdicts(r).size, 0);
});
