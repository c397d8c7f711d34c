import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import { writeAci } from '../../src/image/aci.ts';
import { writeOciLayout } from '../../src/image/oci.ts';
import { syncEntries } from '../../src/image/sync-layer.ts';
import { scanTree } from '../../src/image/tree.ts';
import { tempDir, writeTree } from './helpers.ts';
import { entriesLayer, EPOCH, tool } from './image-helpers.ts';

/** Builds both images from freshly written sources under the given source mtime and umask. */
async function build(t: TestContext, mtime: number, umask: number) {
  const old = process.umask(umask);
  try {
    const dir = tempDir(t);
    // The sources have the same permission bits (set with chmod, so the umask does not apply to
    // them); what differs is where they are, their mtimes, and the umask the writers run under.
    writeTree(join(dir, 'pkg'), [
      ['usr', { dir: 0o755 }],
      ['usr/bin', { dir: 0o755 }],
      ['usr/bin/tool', { file: 'tool', mode: 0o755 }],
      ['usr/bin/t', { symlink: 'tool' }],
      ['etc', { dir: 0o755 }],
      ['etc/tool.conf', { file: 'conf', mode: 0o644 }],
      ['etc/tool.d', { dir: 0o750 }],
    ]);
    writeTree(dir, [
      ['files', { dir: 0o755 }],
      ['files/motd', { file: 'welcome\n', mode: 0o644 }],
    ]);
    for (const p of [
      'pkg/usr/bin/tool',
      'pkg/usr/bin/t',
      'pkg/etc/tool.conf',
      'pkg/etc',
      'files/motd',
      'files',
    ]) {
      tool('touch', ['-h', '-d', `@${mtime}`, join(dir, p)]);
    }
    const pkg = await entriesLayer(t, await scanTree(join(dir, 'pkg'), { normalizeModes: false }), 'pkg');
    const sync = await entriesLayer(
      t,
      await syncEntries([
        { src: join(dir, 'files'), isDir: true, dest: '/etc/motd.d', owner: { uid: 0, gid: 0 } },
      ]),
      'sync',
    );
    const oci = join(dir, 'out', 'image.oci');
    const aci = join(dir, 'out', 'image-linux-amd64.aci');
    const platform = { os: 'linux', arch: 'amd64' };
    const written = await writeOciLayout(oci, {
      layers: [pkg, sync],
      config: { Cmd: ['/usr/bin/tool'], Labels: { b: '2', a: '1' } },
      created: EPOCH,
      tag: 'v1',
      ...platform,
    });
    const { imageId } = await writeAci(aci, {
      layers: [pkg, sync],
      manifest: { name: 'example.com/tool', acVersion: '0.8.11', acKind: 'ImageManifest' },
      mtime: EPOCH,
      ...platform,
    });
    return { ...written, imageId, oci, aci, layers: [pkg.digest, sync.digest] };
  } finally {
    process.umask(old);
  }
}

test('the same inputs give the same digests: other temp dirs, source mtimes and umask', async (t) => {
  const one = await build(t, 1_000_000, 0o022);
  const two = await build(t, 1_600_000_000, 0o077);
  assert.deepEqual(one.layers, two.layers);
  assert.equal(one.manifestDigest, two.manifestDigest);
  assert.equal(one.configDigest, two.configDigest);
  assert.equal(one.imageId, two.imageId);
  assert.match(one.imageId, /^sha512-[0-9a-f]{128}$/);
  assert.deepEqual(readFileSync(join(one.oci, 'index.json')), readFileSync(join(two.oci, 'index.json')));
  assert.deepEqual(readFileSync(one.aci), readFileSync(two.aci));
  // Output permissions do not follow the umask either.
  assert.equal(statSync(join(two.oci, 'index.json')).mode & 0o777, 0o644);
  assert.equal(statSync(join(two.oci, 'blobs/sha256')).mode & 0o777, 0o755);
  assert.equal(statSync(two.aci).mode & 0o777, 0o644);
});
