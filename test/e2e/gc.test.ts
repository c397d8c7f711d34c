/**
 * `buildit gc` through the CLI: two containers built into one store, one of
 * them last used 40 days ago; gc removes its package and keeps the other's,
 * whose rebuild then comes entirely from the store.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildit, testEnv } from '../helpers/cli.ts';
import { repoCopy, testdir } from '../helpers/testdir.ts';

const env = testEnv();
const store = env['BUILDIT_HOME']!;
const out = testdir();
// The same program without the shout flag: another identity, another artifact.
const loud = repoCopy('examples/hello').ctr;
const second = repoCopy('examples/hello').ctr;
const pkgYaml = path.join(second, 'pkgs/hello/pkg.yaml');
writeFileSync(pkgYaml, readFileSync(pkgYaml, 'utf8').replace('with:', 'without:'));

interface Built {
  id: string;
  record: string;
  blob: string;
}

function packageOf(events: Record<string, unknown>[]): Record<string, unknown> {
  return events.find((e) => e['type'] === 'package')!;
}

function stored(id: string): Built {
  const record = path.join(store, 'packages/linux-amd64', id.slice(0, 2), `${id}.json`);
  const hex = (
    JSON.parse(readFileSync(record, 'utf8')) as { artifact: { digest: string } }
  ).artifact.digest.slice('sha256:'.length);
  return { id, record, blob: path.join(store, 'blobs/sha256', hex.slice(0, 2), hex) };
}

let first: Built;
let other: Built;

test('two containers built into one store', async () => {
  const a = await buildit([loud, '-o', out, '--json'], { env });
  assert.equal(a.code, 0, a.stderr + a.stdout);
  const b = await buildit([second, '-o', out, '--json'], { env });
  assert.equal(b.code, 0, b.stderr + b.stdout);
  assert.equal(packageOf(b.events)['source'], 'build');
  first = stored(String(packageOf(a.events)['id']));
  other = stored(String(packageOf(b.events)['id']));
  assert.notEqual(first.id, other.id);
  assert.notEqual(first.blob, other.blob, 'two artifacts');
  for (const file of [first.record, first.blob, other.record, other.blob]) assert.ok(existsSync(file), file);
});

test("age the second container's root: last used 40 days ago", () => {
  const roots = path.join(store, 'roots');
  let aged = 0;
  for (const dir of readdirSync(roots))
    for (const name of readdirSync(path.join(roots, dir))) {
      const file = path.join(roots, dir, name);
      const root = JSON.parse(readFileSync(file, 'utf8')) as { container: string; lastUsed: string };
      if (root.container !== second) continue;
      const then = new Date(Date.now() - 40 * 24 * 60 * 60 * 1000);
      writeFileSync(file, JSON.stringify({ ...root, lastUsed: then.toISOString() }));
      utimesSync(file, then, then);
      aged++;
    }
  assert.equal(aged, 1, 'one root for the second container');
});

test('gc --dry-run --json lists the second package and removes nothing', async () => {
  const dry = await buildit(['gc', '--dry-run', '--json'], { env });
  assert.equal(dry.code, 0, dry.stderr + dry.stdout);
  const listed = dry.events.filter((e) => e['type'] === 'gc');
  const record = listed.find((e) => e['kind'] === 'record');
  assert.deepEqual(record && { id: record['id'], path: record['path'] }, {
    id: other.id,
    path: other.record,
  });
  assert.ok(Number(record!['bytes']) > 0);
  assert.ok(listed.some((e) => e['kind'] === 'blob' && e['path'] === other.blob));
  assert.ok(listed.some((e) => e['kind'] === 'root'));
  assert.ok(!listed.some((e) => e['id'] === first.id), 'nothing of the first container');
  const result = dry.events.at(-1)!;
  assert.equal(result['type'], 'result');
  assert.equal(result['ok'], true);
  assert.equal(result['dryRun'], true);
  assert.deepEqual((result['removed'] as Record<string, number>)['records'], 1);
  for (const file of [first.record, first.blob, other.record, other.blob]) assert.ok(existsSync(file), file);

  const human = await buildit(['gc', '--dry-run'], { env });
  assert.match(
    human.stdout,
    new RegExp(`would remove record +packages/linux-amd64/${other.id.slice(0, 2)}/${other.id}\\.json`),
  );
  assert.match(human.stdout, /^would remove 1 record, \d+ blobs?, .*MiB \(kept 1 record, 1 blob\)$/m);
  assert.ok(existsSync(other.record));
});

test('gc removes the second package and keeps the first (--store names the store)', async () => {
  const elsewhere = testEnv();
  const run = await buildit(['gc', '--store', store], { env: elsewhere });
  assert.equal(run.code, 0, run.stderr + run.stdout);
  assert.match(
    run.stdout,
    /^removed 1 record, \d+ blobs?, 1 root, 1 log, \d+\.\d\d MiB freed \(kept 1 record, 1 blob\)$/m,
  );
  assert.ok(!existsSync(other.record));
  assert.ok(!existsSync(other.blob));
  assert.ok(existsSync(first.record));
  assert.ok(existsSync(first.blob));
  assert.ok(existsSync(path.join(store, 'buildit-binhost.json')));
});

test('a rebuild of the first container comes entirely from the store', async () => {
  const again = await buildit([loud, '-o', testdir(), '--json'], { env });
  assert.equal(again.code, 0, again.stderr + again.stdout);
  const packages = again.events.filter((e) => e['type'] === 'package');
  assert.ok(packages.length > 0);
  assert.deepEqual(
    packages.map((p) => p['source']),
    packages.map(() => 'store'),
  );
});

test('a bad --keep-days is a usage error (exit 2) that removes nothing', async () => {
  const bad = await buildit(['gc', '--keep-days=-1', '--json'], { env });
  assert.equal(bad.code, 2);
  assert.equal(bad.events.find((e) => e['type'] === 'error')!['code'], 'BUILDIT_USAGE_KEEP_DAYS');
  assert.ok(existsSync(first.record));
});
