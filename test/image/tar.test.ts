import assert from 'node:assert/strict';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Parser } from 'tar';
import { deterministicGzip } from '../../src/image/gzip.ts';
import { tarStream, type TarEntry } from '../../src/image/tar.ts';
import { collect, gnuList, nodeList, run, tempDir, zeros, type Listed } from './helpers.ts';

const MTIME = 1700000000;
const file = (path: string, content: string, mode = 0o644): TarEntry => ({
  path,
  type: 'file',
  mode,
  size: Buffer.byteLength(content),
  open: () => Readable.from([Buffer.from(content)]),
});
const pack = (entries: TarEntry[], mtime = MTIME) => collect(tarStream(entries, { mtime }));

test('headers are ustar, owned by 0/0 with empty names, fixed mtime and a correct checksum', async () => {
  const out = await pack([{ path: 'd', type: 'dir', mode: 0o40755 }, file('d/f', 'hello')]);
  assert.equal(out.length, 3 * 512 + 1024); // two headers, one data block, two zero blocks
  assert.deepEqual(out.subarray(out.length - 1024), Buffer.alloc(1024));
  for (const [at, name, mode] of [
    [0, 'd/', '0000755'],
    [512, 'd/f', '0000644'],
  ] as const) {
    const h = out.subarray(at, at + 512);
    const field = (o: number, n: number) => h.subarray(o, o + n).toString('latin1');
    assert.equal(field(0, 100).replace(/\0+$/, ''), name);
    assert.equal(field(100, 8), `${mode}\0`);
    assert.equal(field(108, 16), '0000000\0'.repeat(2));
    assert.equal(field(136, 12), `${MTIME.toString(8).padStart(11, '0')}\0`);
    assert.equal(field(257, 8), 'ustar\u000000');
    assert.equal(field(265, 64), '\0'.repeat(64));
    const sum = [...h].reduce((s, b, i) => s + (i >= 148 && i < 156 ? 32 : b), 0);
    assert.equal(parseInt(field(148, 6), 8), sum);
  }
});

test('GNU tar and node-tar list every kind of entry identically', async (t) => {
  const long150 = `${'a'.repeat(60)}/${'b'.repeat(60)}/${'c'.repeat(28)}`;
  const long300 = `${'x'.repeat(99)}/${'y'.repeat(99)}/${'z'.repeat(100)}`;
  const entries: TarEntry[] = [
    { path: 'bin', type: 'dir', mode: 0o755 },
    file('bin/su', '#!/bin/sh\n', 0o4755),
    file('bin/sgid', '', 0o2711),
    { path: 'bin/sh', type: 'symlink', mode: 0o777, target: 'su' },
    { path: 'bin/su2', type: 'hardlink', mode: 0o4755, target: 'bin/su' },
    { path: 'tmp', type: 'dir', mode: 0o1777 },
    file(long150, 'split into prefix and name'),
    { path: long300.slice(0, 199), type: 'dir', mode: 0o700 },
    file(long300, 'needs a PAX path'),
    { path: 'héllo', type: 'dir', mode: 0o755 },
    file('héllo/日本語.txt', 'non-ASCII name'),
    { path: 'long-link', type: 'symlink', mode: 0o777, target: `../${long300}` },
    { path: 'ünïcode-link', type: 'symlink', mode: 0o777, target: 'héllo/日本語.txt' },
  ];
  const dir = tempDir(t);
  const tarFile = join(dir, 'out.tar');
  writeFileSync(tarFile, await pack(entries));

  const expected: Listed[] = entries.map((e) => {
    const path = e.type === 'dir' ? `${e.path}/` : e.path;
    const type = { dir: 'd', file: '-', symlink: 'l', hardlink: 'h' }[e.type];
    const base = {
      path,
      type,
      mode: e.mode,
      owner: '0/0',
      size: e.type === 'file' ? e.size : 0,
      mtime: MTIME,
    };
    return 'target' in e ? { ...base, target: e.target } : base;
  });
  assert.deepEqual(gnuList(tarFile), expected);
  assert.deepEqual(await nodeList(tarFile), expected);

  run('tar', ['-xf', tarFile, '-C', dir]);
  assert.equal(readFileSync(join(dir, long150), 'utf8'), 'split into prefix and name');
  assert.equal(readFileSync(join(dir, long300), 'utf8'), 'needs a PAX path');
  assert.equal(readFileSync(join(dir, 'ünïcode-link'), 'utf8'), 'non-ASCII name');
  assert.equal(readlinkSync(join(dir, 'long-link')), `../${long300}`);
});

test('PAX headers appear only when ustar cannot hold the entry', async () => {
  const blocks = async (path: string) => (await pack([{ path, type: 'dir', mode: 0o755 }])).length / 512 - 2;
  assert.equal(await blocks('a'.repeat(99)), 1); // 99 + '/' fits the name field
  assert.equal(await blocks(`${'a'.repeat(155)}/${'b'.repeat(99)}`), 1); // prefix/name split
  assert.equal(await blocks(`${'a'.repeat(156)}/${'b'.repeat(99)}`), 3); // PAX header + record + entry
  assert.equal(await blocks('é'), 3);
  const out = await pack([{ path: 'é', type: 'dir', mode: 0o755 }]);
  assert.equal(out.subarray(0, 100).toString('latin1').replace(/\0+$/, ''), 'PaxHeader/_');
  assert.equal(out.subarray(512, 512 + 12).toString('utf8'), '12 path=é/\n');
});

test('a file of 8 GiB or more gets a PAX size and a base-256 ustar size', async () => {
  const size = 8 * 1024 ** 3;
  const stream = tarStream([{ path: 'big', type: 'file', mode: 0o644, size, open: () => zeros(size) }], {
    mtime: 0,
  });
  const head: Buffer[] = [];
  let have = 0;
  for await (const chunk of stream) {
    head.push(chunk as Buffer);
    if ((have += (chunk as Buffer).length) >= 3 * 512) break; // leaving the loop destroys the stream
  }
  const out = Buffer.concat(head);
  assert.equal(out.subarray(512, 512 + 19).toString('latin1'), '19 size=8589934592\n');
  assert.equal(out[1024 + 124], 0x80);
  const sizes: number[] = [];
  new Parser({ onReadEntry: (e) => void sizes.push(e.size) }).write(out.subarray(0, 3 * 512));
  assert.deepEqual(sizes, [size]);
});

test('a file whose stream does not give exactly `size` bytes fails the archive', async () => {
  const lying = (size: number, content: string): TarEntry => ({ ...file('f', content), size }) as TarEntry;
  await assert.rejects(pack([lying(4, 'hello')]), /f: expected 4 bytes but read more/);
  await assert.rejects(pack([lying(6, 'hello')]), /f: expected 6 bytes but read only 5/);
});

test('invalid entries are rejected', async () => {
  const dir = (path: string): TarEntry => ({ path, type: 'dir', mode: 0o755 });
  for (const path of ['', '/abs', './x', 'a/../b', 'a//b', 'nul\0']) {
    await assert.rejects(pack([dir(path)]), /invalid entry path/, path);
  }
  await assert.rejects(pack([dir('a'), dir('a/')]), /duplicate entry "a"/);
  await assert.rejects(
    pack([{ path: 'h', type: 'hardlink', mode: 0o644, target: 'missing' }]),
    /hardlink target "missing" is not an earlier file/,
  );
  assert.throws(() => tarStream([], { mtime: -1 }), /mtime/);
});

test('the same entries always give the same bytes', async () => {
  const entries = () => [{ path: 'd', type: 'dir', mode: 0o755 } as TarEntry, file('d/f', 'x'.repeat(1000))];
  assert.deepEqual(await pack(entries()), await pack(entries()));
});

test('deterministic gzip: mtime 0, OS byte unix, identical output, round trips', async () => {
  const input = Buffer.from('buildit '.repeat(10000));
  const gzip = () => collect(Readable.from([input]).pipe(deterministicGzip()));
  const [a, b] = [await gzip(), await gzip()];
  assert.deepEqual(a.subarray(0, 4), Buffer.from([0x1f, 0x8b, 8, 0]));
  assert.deepEqual(a.subarray(4, 8), Buffer.alloc(4));
  assert.equal(a[9], 3);
  assert.deepEqual(a, b);
  assert.deepEqual(gunzipSync(a), input);
  const empty = await collect(Readable.from([]).pipe(deterministicGzip(9)));
  assert.equal(empty[9], 3);
  assert.deepEqual(gunzipSync(empty), Buffer.alloc(0));
  assert.throws(() => deterministicGzip(10), /level/);
});
