import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import {
  describeChanges,
  diffArtifacts,
  indexArtifact,
  normalizePath,
  type DiffSide,
  type EntryFacts,
} from '../../src/image/artifact-diff.ts';
import { deterministicGzip } from '../../src/image/gzip.ts';
import { packLayer } from '../../src/image/layer.ts';
import { tarStream, type TarEntry } from '../../src/image/tar.ts';
import { collect, tempDir, writeTree } from './helpers.ts';
import { tool } from './image-helpers.ts';

const file = (path: string, content: string | Buffer, mode = 0o644): TarEntry => {
  const body = Buffer.from(content);
  return { path, type: 'file', mode, size: body.length, open: () => Readable.from([body]) };
};
const dir = (path: string, mode = 0o755): TarEntry => ({ path, type: 'dir', mode });
const link = (path: string, target: string): TarEntry => ({ path, type: 'symlink', mode: 0o777, target });

async function artifact(
  entries: TarEntry[],
  options: { mtime?: number; level?: number } = {},
): Promise<Buffer> {
  const tar = tarStream(entries, { mtime: options.mtime ?? 0 });
  return collect(tar.pipe(deterministicGzip(options.level)));
}

const side = (name: string, gz: Buffer): DiffSide => ({ name, what: name, open: () => Readable.from([gz]) });

const BASE: TarEntry[] = [
  dir('usr/'),
  dir('usr/bin/'),
  file('usr/bin/tool', '#!/bin/sh\necho hi\n', 0o755),
  link('usr/bin/alias', 'tool'),
  dir('usr/share/'),
  file('usr/share/when', '1700000000\n'),
];

test('identical artifacts: no differences', async () => {
  const a = await artifact(BASE);
  const diff = await diffArtifacts(side('baseline', a), side('rebuild', await artifact(BASE)));
  assert.deepEqual(diff, { paths: [], orderDiffers: false, sameEntries: true });
});

test('content, mode, symlink target, type and presence each name the path and what changed', async () => {
  const before = await artifact([
    ...BASE,
    file('etc/gone', 'x'),
    file('etc/kind', 'a file'),
    file('etc/conf', 'x=1\n', 0o644),
  ]);
  const after = await artifact([
    dir('usr/'),
    dir('usr/bin/'),
    file('usr/bin/tool', '#!/bin/sh\necho hi\n', 0o700),
    link('usr/bin/alias', 'other'),
    dir('usr/share/'),
    file('usr/share/when', '1700000001\n'),
    file('usr/share/new', 'n'),
    dir('etc/kind/'),
    file('etc/conf', 'x=2\n', 0o600),
  ]);
  const diff = await diffArtifacts(side('baseline', before), side('rebuild', after));
  assert.deepEqual(diff.paths, [
    { path: '/etc/conf', what: 'content, mode 0644 → 0600' },
    { path: '/etc/gone', what: 'only in the baseline' },
    { path: '/etc/kind', what: 'type file → dir' },
    { path: '/usr/bin/alias', what: 'symlink target tool → other' },
    { path: '/usr/bin/tool', what: 'mode 0755 → 0700' },
    { path: '/usr/share/new', what: 'only in the rebuild' },
    { path: '/usr/share/when', what: 'content' },
  ]);
  assert.equal(diff.sameEntries, false);
});

test('a different mtime shows on every entry', async () => {
  const diff = await diffArtifacts(
    side('baseline', await artifact(BASE, { mtime: 0 })),
    side('rebuild', await artifact(BASE, { mtime: 1700000000 })),
  );
  assert.equal(diff.paths.length, BASE.length);
  assert.deepEqual(diff.paths[0], { path: '/usr', what: 'mtime 0 → 1700000000' });
});

test('the same tar compressed differently: same entries, the gzip bytes differ', async () => {
  const fast = await artifact(BASE, { level: 1 });
  const best = await artifact(BASE, { level: 9 });
  assert.notDeepEqual(fast, best);
  assert.deepEqual(gunzipSync(fast), gunzipSync(best));
  const diff = await diffArtifacts(side('baseline', fast), side('rebuild', best));
  assert.deepEqual(diff, { paths: [], orderDiffers: false, sameEntries: true });
});

test('the same entries in another order', async () => {
  const reordered = [BASE[0]!, BASE[1]!, BASE[3]!, BASE[2]!, BASE[4]!, BASE[5]!];
  const diff = await diffArtifacts(
    side('baseline', await artifact(BASE)),
    side('rebuild', await artifact(reordered)),
  );
  assert.deepEqual(diff, { paths: [], orderDiffers: true, sameEntries: false });
});

test('owners and hardlink targets are compared', async () => {
  const base: EntryFacts = {
    type: 'hardlink',
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: 0,
    linkname: 'usr/bin/a',
    mtime: 0,
    sha256: '',
  };
  assert.deepEqual(describeChanges(base, { ...base }), []);
  assert.deepEqual(describeChanges(base, { ...base, uid: 1000, gid: 100, linkname: 'usr/bin/b' }), [
    'hardlink target usr/bin/a → usr/bin/b',
    'owner 0:0 → 1000:100',
  ]);
  assert.deepEqual(describeChanges({ ...base, mode: 0o4755 }, base), ['mode 04755 → 0644']);
});

test('paths are normalized: leading ./ or /, trailing /, the root', () => {
  for (const [input, expected] of [
    ['usr/bin/x', '/usr/bin/x'],
    ['./usr/bin/x', '/usr/bin/x'],
    ['/usr/bin/x/', '/usr/bin/x'],
    ['usr//bin/./x', '/usr/bin/x'],
    ['./', '/'],
    ['.', '/'],
  ] as const) {
    assert.equal(normalizePath(input), expected, input);
  }
});

test('a foreign tar (GNU tar: ./-prefixed names, a root entry) indexes by the same paths', async (t) => {
  const root = tempDir(t);
  writeTree(join(root, 'tree'), [['a/b', { file: 'bee', mode: 0o640 }]]);
  const gz = join(root, 'foreign.tgz');
  tool('tar', [
    '-C',
    join(root, 'tree'),
    '--numeric-owner',
    '--owner=0',
    '--group=0',
    '--mtime=@5',
    '-czf',
    gz,
    '.',
  ]);
  const foreign = await indexArtifact(createReadStream(gz), 'foreign');
  assert.deepEqual(foreign.order, ['/', '/a', '/a/b']);
  assert.deepEqual(foreign.entries.get('/a/b'), {
    type: 'file',
    mode: 0o640,
    uid: 0,
    gid: 0,
    size: 3,
    linkname: '',
    mtime: 5,
    sha256: createHash('sha256').update('bee').digest('hex'),
  });
  const ours = await indexArtifact(
    Readable.from([await artifact([dir('a/'), file('a/b', 'bee', 0o640)], { mtime: 5 })]),
    'ours',
  );
  assert.deepEqual(ours.entries.get('/a/b'), foreign.entries.get('/a/b'));
});

test('large files stream: a change in the last byte of 64 MiB is found', async (t) => {
  const root = tempDir(t);
  const size = 64 * 1024 * 1024;
  const big = (last: number): TarEntry => ({
    path: 'big',
    type: 'file',
    mode: 0o644,
    size,
    open: () => {
      async function* chunks(): AsyncGenerator<Buffer> {
        const chunk = Buffer.alloc(1024 * 1024);
        for (let i = 0; i < 63; i++) yield chunk;
        const end = Buffer.alloc(1024 * 1024);
        end[end.length - 1] = last;
        yield end;
      }
      return Readable.from(chunks());
    },
  });
  const a = await packLayer([big(0)], { mtime: 0, file: join(root, 'a.tgz') });
  const b = await packLayer([big(1)], { mtime: 0, file: join(root, 'b.tgz') });
  assert.notEqual(a.digest, b.digest);
  const open = (f: string) => () => createReadStream(f);
  const diff = await diffArtifacts(
    { name: 'baseline', what: 'a', open: open(a.file) },
    { name: 'rebuild', what: 'b', open: open(b.file) },
  );
  assert.deepEqual(diff.paths, [{ path: '/big', what: 'content' }]);
});

test('an archive that is not a gzip’d tar fails, naming it', async () => {
  await assert.rejects(
    diffArtifacts(side('baseline', Buffer.from('not gzip')), side('rebuild', await artifact(BASE))),
    /baseline/,
  );
});
