/**
 * `buildit gc` on hand-made stores: what is kept (recent roots, running
 * builds, held locks, what changed since a build started) and what goes.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { parseKeepDays } from '../../src/cli/commands/gc.ts';
import type { BuilditError } from '../../src/errors.ts';
import { collectGarbage, type GcResult } from '../../src/store/gc.ts';
import { acquireLock } from '../../src/store/lock.ts';
import { beginUse, gcLockFile } from '../../src/store/roots.ts';
import { LocalStore } from '../../src/store/store.ts';
import { OWNER } from '../../src/util/owner.ts';
import { testdir } from '../helpers/testdir.ts';

const DAY = 24 * 60 * 60 * 1000;
const TARGET = { os: 'linux', arch: 'amd64' };
const id = (c: string) => c.repeat(64);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** A pid that belonged to a process that has exited. */
const DEAD_PID = spawnSync('true').pid!;

function age(file: string, days: number): void {
  const when = new Date(Date.now() - days * DAY);
  utimesSync(file, when, when);
}

function write(file: string, content: string, days = 100): string {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, content);
  age(file, days);
  return file;
}

/** A store whose every file is 100 days old unless a test says otherwise. */
function makeStore(): LocalStore {
  const root = testdir();
  write(path.join(root, 'buildit-binhost.json'), '{"schema":"buildit-binhost/v1"}\n');
  write(path.join(root, 'containers/hello/1.0/container.lock'), '{}\n');
  return new LocalStore(root);
}

function addBlob(store: LocalStore, hex: string, days = 100): string {
  return write(store.blobFile(hex), `blob ${hex}\n`, days);
}

function addRecord(store: LocalStore, pkg: string, artifact: string, days = 100): string {
  addBlob(store, artifact, days);
  const record = {
    schema: 'buildit-pkg/v1',
    id: pkg,
    name: `pkg-${pkg.slice(0, 1)}`,
    version: '1.0',
    target: TARGET,
    artifact: { digest: `sha256:${artifact}` },
  };
  return write(store.recordFile(TARGET, pkg), JSON.stringify(record), days);
}

function addRoot(
  store: LocalStore,
  container: string,
  packages: string[],
  distfiles: string[],
  days: number,
) {
  const root = {
    schema: 'buildit-root/v1',
    container,
    name: path.basename(container),
    version: '1',
    packages: packages.map((p) => ({ target: TARGET, id: p })),
    distfiles,
    lastUsed: new Date(Date.now() - days * DAY).toISOString(),
  };
  const file = path.join(store.root, 'roots', sha256(container), `${sha256(packages.join())}.json`);
  return write(file, JSON.stringify(root));
}

/** Every file below the store, relative. */
function files(store: LocalStore): string[] {
  return readdirSync(store.root, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => path.relative(store.root, path.join(e.parentPath, e.name)))
    .sort();
}

function removed(result: GcResult): string[] {
  return result.removed.map((r) => `${r.kind} ${r.path}`);
}

/** Each file's size, by absolute path. */
function sizes(store: LocalStore): Map<string, number> {
  return new Map(
    files(store).map((f) => [path.join(store.root, f), statSync(path.join(store.root, f)).size]),
  );
}

const rel = (store: LocalStore, file: string) => path.relative(store.root, file);

/** The store most tests start from: one container used 10 days ago, one 40 days ago, and things nothing uses. */
function scenario() {
  const store = makeStore();
  const recent = addRecord(store, id('a'), id('1'));
  const expired = addRecord(store, id('b'), id('2'));
  const unrooted = addRecord(store, id('c'), id('3'));
  const recentRoot = addRoot(store, '/ctr/recent', [id('a')], [id('4')], 10);
  const oldRoot = addRoot(store, '/ctr/old', [id('b')], [id('5')], 40);
  addBlob(store, id('4'));
  addBlob(store, id('5'));
  const orphan = addBlob(store, id('6'));
  const logA = write(store.logFile(id('a')), 'log a\n');
  const logB = write(store.logFile(id('b')), 'log b\n');
  const failedOld = write(store.logFile(id('d')), 'a failed build, long ago\n', 40);
  const failedNew = write(store.logFile(id('e')), 'a failed build, yesterday\n', 1);
  return { store, recent, expired, unrooted, recentRoot, oldRoot, orphan, logA, logB, failedOld, failedNew };
}

test('gc keeps what recent roots use and removes the rest: roots, then records and logs, then blobs', async () => {
  const s = scenario();
  const before = sizes(s.store);
  const result = await collectGarbage(s.store, { keepDays: 30, dryRun: false });
  const r = (file: string) => rel(s.store, file);
  assert.deepEqual(
    result.removed.map((e) => `${e.kind} ${r(e.path)}`),
    [
      `root ${r(s.oldRoot)}`,
      `record ${r(s.expired)}`,
      `record ${r(s.unrooted)}`,
      `log ${r(s.logB)}`,
      `log ${r(s.failedOld)}`,
      `blob ${r(s.store.blobFile(id('2')))}`,
      `blob ${r(s.store.blobFile(id('3')))}`,
      `blob ${r(s.store.blobFile(id('5')))}`,
      `blob ${r(s.orphan)}`,
    ],
  );
  assert.deepEqual(files(s.store), [
    `blobs/sha256/11/${id('1')}`,
    `blobs/sha256/44/${id('4')}`,
    'buildit-binhost.json',
    'containers/hello/1.0/container.lock',
    `logs/aa/${id('a')}.log`,
    `logs/ee/${id('e')}.log`,
    `packages/linux-amd64/aa/${id('a')}.json`,
    r(s.recentRoot),
  ]);
  assert.deepEqual(result.kept, { roots: 1, records: 1, blobs: 2 });
  assert.equal(
    result.removed.find((e) => e.kind === 'record')!.name,
    'pkg-b-1.0',
    'records are named for people',
  );
  assert.equal(result.removed.find((e) => e.kind === 'root')!.container, '/ctr/old');
  for (const e of result.removed) assert.equal(e.bytes, before.get(e.path), `the size of ${e.path}`);
  assert.ok(
    !existsSync(path.dirname(s.oldRoot)),
    "an expired container's roots folder goes with its last root",
  );
  const again = await collectGarbage(s.store, { keepDays: 30, dryRun: false });
  assert.deepEqual(removed(again), [], 'a second gc finds nothing');
});

test('--dry-run lists exactly what a real run removes, and removes nothing', async () => {
  const s = scenario();
  const before = files(s.store);
  const bytes = sizes(s.store);
  const heard: string[] = [];
  const dry = await collectGarbage(s.store, { keepDays: 30, dryRun: true }, (e) => heard.push(e.path));
  assert.equal(dry.dryRun, true);
  assert.deepEqual(files(s.store), before);
  assert.ok(!existsSync(gcLockFile(s.store)), 'a dry run takes no lock');
  assert.deepEqual(
    heard,
    dry.removed.map((e) => e.path),
  );
  assert.ok(dry.removed.some((e) => e.path === s.expired));
  const real = await collectGarbage(s.store, { keepDays: 30, dryRun: false });
  assert.deepEqual(removed(real), removed(dry));
  for (const e of real.removed) assert.equal(e.bytes, bytes.get(e.path), e.path);
});

test('--keep-days 0: only running builds protect anything', async () => {
  const s = scenario();
  const result = await collectGarbage(s.store, { keepDays: 0, dryRun: false });
  assert.ok(result.removed.some((e) => e.path === s.recentRoot));
  assert.deepEqual(files(s.store), ['buildit-binhost.json', 'containers/hello/1.0/container.lock']);
});

test('a root expires by its lastUsed: 40 days ago is kept with --keep-days 60', async () => {
  const s = scenario();
  const result = await collectGarbage(s.store, { keepDays: 60, dryRun: false });
  assert.ok(existsSync(s.oldRoot));
  assert.ok(existsSync(s.expired));
  assert.ok(existsSync(s.store.blobFile(id('5'))), "the old root's distfile is kept");
  assert.ok(!existsSync(s.unrooted));
  assert.deepEqual(result.kept, { roots: 2, records: 2, blobs: 4 });
});

test('a running build protects what its marker names and whatever changed since it started', async () => {
  const s = scenario();
  const use = await beginUse(s.store, {
    container: '/ctr/running',
    name: 'running',
    version: '1',
    packages: [{ target: TARGET, id: id('c') }],
    distfiles: [id('5').toUpperCase()],
  });
  const markers = readdirSync(path.join(s.store.root, 'active'));
  assert.equal(markers.length, 1);
  assert.match(markers[0]!, new RegExp(`^${process.pid}-[0-9a-f]+\\.json$`));
  // Written by the build after it started: not yet named by any record.
  const justWritten = addBlob(s.store, id('7'), 0);
  const result = await collectGarbage(s.store, { keepDays: 30, dryRun: false });
  assert.equal(result.running, 1);
  assert.ok(existsSync(s.unrooted), 'the running build uses this record');
  assert.ok(existsSync(s.store.blobFile(id('3'))), "and the record's artifact");
  assert.ok(existsSync(s.store.blobFile(id('5'))), 'and this distfile (named in upper case)');
  assert.ok(existsSync(justWritten), 'a blob written since the build started');
  assert.ok(!existsSync(s.expired), 'what the build does not use still goes');
  assert.ok(!existsSync(s.orphan));

  await use.finish(false);
  assert.deepEqual(readdirSync(path.join(s.store.root, 'active')), [], 'the marker goes when the build ends');
  assert.equal(readdirSync(path.join(s.store.root, 'roots')).length, 1, 'a failed build leaves no root');
  await collectGarbage(s.store, { keepDays: 30, dryRun: false });
  assert.ok(!existsSync(s.unrooted), 'once the build is over, nothing protects it');
});

test("a killed build's marker protects nothing and is removed", async () => {
  const s = scenario();
  const marker = write(
    path.join(s.store.root, 'active', `${DEAD_PID}-abcdef.json`),
    JSON.stringify({
      schema: 'buildit-active/v1',
      pid: DEAD_PID,
      host: os.hostname(),
      started: new Date().toISOString(),
      container: '/ctr/killed',
      name: 'killed',
      version: '1',
      packages: [{ target: TARGET, id: id('c') }],
      distfiles: [],
    }),
    0,
  );
  const result = await collectGarbage(s.store, { keepDays: 30, dryRun: false });
  assert.equal(result.running, 0);
  assert.ok(result.removed.some((e) => e.kind === 'marker' && e.path === marker));
  assert.ok(!existsSync(marker));
  assert.ok(!existsSync(s.unrooted));
  assert.ok(existsSync(s.recent));
});

test('an identity lock held by a live process keeps that identity; a stale one is removed', async () => {
  const s = scenario();
  const held = write(
    path.join(s.store.root, 'locks', `${id('c')}.lock`),
    `${os.hostname()} ${process.pid}\n`,
  );
  const stale = write(path.join(s.store.root, 'locks', `${id('b')}.lock`), `${os.hostname()} ${DEAD_PID}\n`);
  const elsewhere = write(
    path.join(s.store.root, 'locks', `${id('d')}.lock`),
    `another-host-${process.pid} 1\n`,
  );
  const result = await collectGarbage(s.store, { keepDays: 30, dryRun: false });
  assert.ok(existsSync(s.unrooted), 'a build of it is under way');
  assert.ok(existsSync(s.store.blobFile(id('3'))));
  assert.ok(existsSync(held));
  assert.ok(!existsSync(stale));
  assert.ok(existsSync(elsewhere), "another host's lock cannot be checked: left alone");
  assert.ok(!existsSync(s.expired), 'a stale lock protects nothing');
  assert.ok(result.removed.some((e) => e.kind === 'lock' && e.id === id('b')));
});

test('leftovers of killed runs go: tmp/ entries and interrupted writes whose process is gone', async () => {
  const s = scenario();
  write(path.join(s.store.root, 'tmp', `${DEAD_PID}-build-x/src/a.c`), 'int x;\n');
  const liveTmp = write(path.join(s.store.root, 'tmp', `${process.pid}-build-y/src/a.c`), 'int y;\n');
  const interrupted = write(
    path.join(path.dirname(s.recent), `.tmp-${id('a')}.json-${DEAD_PID}-0123456789ab`),
    '{"half',
  );
  const movedAside = write(path.join(s.store.root, 'locks', `${id('a')}.lock.stale-${DEAD_PID}`), 'h 1\n');
  const result = await collectGarbage(s.store, { keepDays: 30, dryRun: false });
  assert.ok(!existsSync(path.join(s.store.root, 'tmp', `${DEAD_PID}-build-x`)));
  assert.ok(existsSync(liveTmp));
  assert.ok(!existsSync(interrupted));
  assert.ok(!existsSync(movedAside));
  const tmp = result.removed.filter((e) => e.kind === 'tmp');
  assert.equal(tmp.length, 3);
  assert.equal(
    tmp.find((e) => e.path.endsWith('build-x'))!.bytes,
    'int x;\n'.length,
    'a folder counts its files',
  );
  assert.ok(existsSync(s.recent));
});

test('a build waits while gc holds its lock; gc reads the markers written before it took it', async () => {
  const store = makeStore();
  const gc = await acquireLock(gcLockFile(store));
  let started = false;
  const use = beginUse(store, {
    container: '/ctr/waiting',
    name: 'waiting',
    version: '2',
    packages: [{ target: TARGET, id: id('a') }],
    distfiles: [],
  }).then((handle) => {
    started = true;
    return handle;
  });
  await sleep(300);
  assert.equal(started, false, 'the build waits for gc');
  assert.equal(
    readdirSync(path.join(store.root, 'active')).length,
    1,
    'its marker is written before it waits: a gc that took the lock later would see it',
  );
  await gc.release();
  const handle = await use;
  assert.equal(started, true);
  await handle.finish(true);
  assert.deepEqual(readdirSync(path.join(store.root, 'active')), []);
  const [dir] = readdirSync(path.join(store.root, 'roots'));
  assert.equal(dir, sha256('/ctr/waiting'));
  const [file] = readdirSync(path.join(store.root, 'roots', dir!));
  const root = JSON.parse(readFileSync(path.join(store.root, 'roots', dir!, file!), 'utf8'));
  assert.equal(root.schema, 'buildit-root/v1');
  assert.deepEqual(root.packages, [{ target: TARGET, id: id('a') }]);
  assert.ok(Date.now() - Date.parse(root.lastUsed) < 60_000);
});

test('a build waiting for gc says so once, and stops waiting when aborted', async () => {
  const store = makeStore();
  const gc = await acquireLock(gcLockFile(store));
  const abort = new AbortController();
  let told = 0;
  const use = beginUse(
    store,
    { container: '/ctr/abort', name: 'a', version: '1', packages: [], distfiles: [] },
    { signal: abort.signal, onWait: () => told++ },
  );
  await sleep(200);
  abort.abort();
  await assert.rejects(use, { name: 'AbortError' });
  assert.equal(told, 1);
  assert.deepEqual(readdirSync(path.join(store.root, 'active')), [], 'its marker is removed');
  await gc.release();
});

test("a killed gc's lock does not make builds wait", async () => {
  const store = makeStore();
  write(gcLockFile(store), `${os.hostname()} ${DEAD_PID}\n`);
  const handle = await beginUse(store, {
    container: '/ctr/x',
    name: 'x',
    version: '1',
    packages: [],
    distfiles: [],
  });
  await handle.finish(true);
  assert.equal(readdirSync(path.join(store.root, 'roots')).length, 1);
});

test('each package set of a container is its own root: rebuilding one refreshes it, a new one adds one', async () => {
  const store = makeStore();
  const use = (ids: string[]) =>
    beginUse(store, {
      container: '/ctr/gen',
      name: 'gen',
      version: '1',
      packages: ids.map((p) => ({ target: TARGET, id: p })),
      distfiles: [],
    }).then((h) => h.finish(true));
  await use([id('a'), id('b')]);
  await use([id('b'), id('a'), id('a')]);
  const dir = path.join(store.root, 'roots', sha256('/ctr/gen'));
  assert.equal(readdirSync(dir).length, 1, 'one set, in any order, is one root');
  await use([id('a'), id('c')]);
  assert.equal(readdirSync(dir).length, 2, 'a changed flag starts a new generation');
  const result = await collectGarbage(store, { keepDays: 30, dryRun: true });
  assert.equal(result.kept.roots, 2, 'the previous generation is kept within --keep-days');
});

test('using a blob refreshes its mtime: hasBlob, and putBlob of bytes already there', async () => {
  const store = makeStore();
  const hex = sha256('bytes\n');
  addBlob(store, hex, 100);
  assert.equal(await store.hasBlob(hex), true);
  assert.ok(Date.now() - statSync(store.blobFile(hex)).mtimeMs < 60_000, 'hasBlob refreshed it');
  age(store.blobFile(hex), 100);
  await store.putBlob(Readable.from([Buffer.from('bytes\n')]), { hex, what: 'test' });
  assert.ok(Date.now() - statSync(store.blobFile(hex)).mtimeMs < 60_000, 'putBlob refreshed it');
  assert.equal(await store.hasBlob(id('9')), false);
});

test('gc refuses a folder that is not a store, and finds nothing in a store not made yet', async () => {
  const notStore = testdir({ 'packages/important.json': '{}' });
  await assert.rejects(
    collectGarbage(new LocalStore(notStore), { keepDays: 30, dryRun: false }),
    (error: BuilditError) => error.code === 'BUILDIT_GC_NOT_STORE' && error.exitCode === 2,
  );
  assert.ok(existsSync(path.join(notStore, 'packages/important.json')));
  const missing = path.join(testdir(), 'nothing-here');
  const result = await collectGarbage(new LocalStore(missing), { keepDays: 30, dryRun: false });
  assert.deepEqual(result.removed, []);
  assert.ok(!existsSync(missing), 'gc does not create a store');
});

test('--keep-days takes a whole number of days, 0 or more', () => {
  assert.equal(parseKeepDays(undefined), 30);
  assert.equal(parseKeepDays('0'), 0);
  assert.equal(parseKeepDays('14'), 14);
  for (const bad of ['-1', '1.5', 'x', '', ' 3', '1e3']) {
    assert.throws(
      () => parseKeepDays(bad),
      (error: BuilditError) => error.code === 'BUILDIT_USAGE_KEEP_DAYS' && error.exitCode === 2,
      bad,
    );
  }
});

test('what a build touches while gc runs stays: a record keeps its artifact too', async () => {
  const s = scenario();
  const logC = write(s.store.logFile(id('c')), 'log c\n');
  const touch = (file: string) => utimesSync(file, new Date(), new Date());
  const result = await collectGarbage(s.store, { keepDays: 30, dryRun: false }, (entry) => {
    // Between gc's scan and its removals: a build finds these (hasBlob, a record rewritten).
    if (entry.kind === 'root') {
      touch(s.unrooted);
      touch(s.orphan);
    }
  });
  assert.ok(existsSync(s.unrooted));
  assert.ok(existsSync(s.store.blobFile(id('3'))), "the kept record's artifact, though older, is kept");
  assert.ok(existsSync(logC), 'and its log');
  assert.ok(existsSync(s.orphan));
  assert.ok(!result.removed.some((e) => [s.unrooted, s.orphan, s.store.blobFile(id('3'))].includes(e.path)));
  assert.ok(!existsSync(s.expired), 'the rest goes as planned');
  assert.deepEqual(readdirSync(path.join(s.store.root, 'tmp')), [], 'nothing is left aside');
});

test('a build says what it uses once resolved: its marker keeps its first time, so what it wrote before is kept', async () => {
  const store = makeStore();
  const handle = await beginUse(store, {
    container: '/ctr/late',
    name: 'late',
    version: '1',
    packages: [],
    distfiles: [],
  });
  const [name] = readdirSync(path.join(store.root, 'active'));
  const marker = path.join(store.root, 'active', name!);
  const first = statSync(marker).mtimeMs;
  await sleep(50);
  // Written while resolving (a remote patch being pinned), before the build knows its packages.
  const pinned = sha256('pinned patch');
  const early = write(store.blobFile(pinned), 'patch\n', 0);
  const orphan = addBlob(store, sha256('nobody'), 100);

  const during = await collectGarbage(store, { keepDays: 0, dryRun: false });
  assert.ok(existsSync(early), 'changed since the running build started: kept');
  assert.equal(existsSync(orphan), false, 'an old orphan goes');
  assert.ok(during.removed.some((r) => r.path === orphan));

  await sleep(50);
  await handle.update({ packages: [{ target: TARGET, id: id('d') }], distfiles: [pinned] });
  const kept = statSync(marker).mtimeMs;
  assert.ok(
    kept <= first && kept > first - 3,
    `the marker keeps the time the build started (${kept} vs ${first})`,
  );
  const active = JSON.parse(readFileSync(marker, 'utf8'));
  assert.deepEqual(active.packages, [{ target: TARGET, id: id('d') }]);
  assert.deepEqual(active.distfiles, [pinned]);

  age(early, 100); // even once old, the marker names it now
  await collectGarbage(store, { keepDays: 0, dryRun: false });
  assert.ok(existsSync(early));
  await handle.finish(true);
});

test('cache/images: a memo whose image is gone (or that is torn) goes; one whose image is there stays', async () => {
  const store = makeStore();
  const images = path.join(store.root, 'cache', 'images');
  const outputs = testdir();
  const memo = (name: string, output: string) =>
    write(
      path.join(images, `${sha256(name)}.json`),
      JSON.stringify({
        schema: 'buildit-output-memo/v1',
        output,
        inputs: 'x',
        digest: 'd',
        sha256: 's',
        size: 1,
      }),
    );
  const there = write(path.join(outputs, 'app.aci'), 'aci');
  const kept = memo('kept', there);
  const gone = memo('gone', path.join(outputs, 'deleted.aci'));
  const torn = write(path.join(images, `${sha256('torn')}.json`), '{"schema":"buildit-out');
  write(path.join(store.root, 'cache', 'toolchain.json'), '{}');

  const result = await collectGarbage(store, { keepDays: 30, dryRun: false });
  assert.deepEqual(
    result.removed
      .filter((r) => r.kind === 'memo')
      .map((r) => r.path)
      .sort(),
    [gone, torn].sort(),
  );
  assert.ok(existsSync(kept));
  assert.ok(existsSync(path.join(store.root, 'cache', 'toolchain.json')), 'the rest of cache/ is left alone');
});

test("a base image's layers named by a root are kept with it, and make their own generation", async () => {
  const store = makeStore();
  const layer = addBlob(store, sha256('base layer'));
  const other = addBlob(store, sha256('another base layer'));
  const build = async (blobs: string[]) => {
    const handle = await beginUse(store, {
      container: '/ctr/based',
      name: 'based',
      version: '1',
      packages: [],
      distfiles: [],
    });
    await handle.update({ packages: [{ target: TARGET, id: id('e') }], distfiles: [] });
    await handle.update({ blobs });
    await handle.finish(true);
  };
  await build([sha256('base layer')]);
  const dir = path.join(store.root, 'roots', sha256('/ctr/based'));
  const [file] = readdirSync(dir);
  assert.deepEqual(JSON.parse(readFileSync(path.join(dir, file!), 'utf8')).blobs, [sha256('base layer')]);

  const result = await collectGarbage(store, { keepDays: 30, dryRun: false });
  assert.ok(existsSync(layer), 'named by a recent root: kept');
  assert.equal(existsSync(other), false, 'named by nothing: removed');
  assert.ok(result.removed.some((r) => r.path === other));

  await build([sha256('base layer'), sha256('a newer base layer')]);
  assert.equal(readdirSync(dir).length, 2, 'another base is another generation');
});

test("on a store shared between hosts, another host's scratch is never swept (its processes cannot be checked)", async () => {
  const store = makeStore();
  const here = OWNER.split('.')[1]!;
  const elsewhere = here === 'deadbeef' ? 'feedface' : 'deadbeef';
  const tmp = (name: string) => write(path.join(store.root, 'tmp', name, 'file'), 'x', 0);
  const mineDead = tmp(`${DEAD_PID}.${here}-build-aaaaaa`);
  const oldDead = tmp(`${DEAD_PID}-build-bbbbbb`);
  const theirs = tmp(`${DEAD_PID}.${elsewhere}-build-cccccc`);
  const theirWrite = write(
    path.join(store.root, 'roots', `.tmp-x.json-${DEAD_PID}.${elsewhere}-0123456789ab`),
    '{',
    0,
  );
  const theirAside = write(
    path.join(store.root, 'locks', `${id('f')}.lock.stale-${DEAD_PID}.${elsewhere}`),
    'h 1\n',
  );

  const result = await collectGarbage(store, { keepDays: 30, dryRun: false });
  const gone = result.removed.filter((r) => r.kind === 'tmp').map((r) => r.path);
  assert.deepEqual(gone.sort(), [path.dirname(mineDead), path.dirname(oldDead)].sort());
  for (const kept of [theirs, theirWrite, theirAside]) assert.ok(existsSync(kept), kept);

  // The sweep a build does on start follows the same rule.
  const again = tmp(`${DEAD_PID}.${here}-build-dddddd`);
  await store.init();
  assert.equal(existsSync(again), false);
  assert.ok(existsSync(theirs));
});
