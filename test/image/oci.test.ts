import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test, type TestContext } from 'node:test';
import type { LayerBlob } from '../../src/image/layer.ts';
import { isoSeconds, writeOciLayout, type OciImage } from '../../src/image/oci.ts';
import { syncEntries } from '../../src/image/sync-layer.ts';
import { scanTree } from '../../src/image/tree.ts';
import { podmanRun } from '../helpers/tools.ts';
import { tempDir } from './helpers.ts';
import {
  blobJson,
  brokenLayer,
  entriesLayer,
  EPOCH,
  file,
  sha256,
  tool,
  treeLayer,
} from './image-helpers.ts';

const CONFIG = {
  Entrypoint: ['/usr/bin/hello'],
  Cmd: ['--loud'],
  Env: ['PATH=/usr/bin:/bin', 'GREETING=hello world'],
  Labels: { 'org.opencontainers.image.title': 'hello', maintainer: 'Sysadmin42' },
  ExposedPorts: { '8080/tcp': {} },
  WorkingDir: '/srv',
};

function image(layers: LayerBlob[], extra: Partial<OciImage> = {}): OciImage {
  return { layers, config: CONFIG, os: 'linux', arch: 'amd64', created: EPOCH, tag: '1.0-r1', ...extra };
}

/** A package-like layer and a sync layer owned by 1000:1000 with chmod 0640. */
async function sampleLayers(t: TestContext): Promise<LayerBlob[]> {
  const pkg = await treeLayer(
    t,
    [
      ['usr/bin/hello', { file: '#!/bin/sh\necho hello\n', mode: 0o755 }],
      ['usr/share/doc/hello/README', 'read me\n'],
      ['usr/bin/hi', { symlink: 'hello' }],
    ],
    'buildit package app-misc/hello-1.0 0123',
  );
  const dir = tempDir(t);
  writeFileSync(join(dir, 'app.conf'), 'port=8080\n');
  const sync = await entriesLayer(
    t,
    await syncEntries([
      {
        src: join(dir, 'app.conf'),
        isDir: false,
        dest: '/etc/app/app.conf',
        mode: 0o640,
        owner: { uid: 1000, gid: 1000 },
      },
    ]),
    'buildit sync ./app.conf /etc/app/app.conf',
  );
  return [pkg, sync];
}

test('an OCI layout that oci-image-tool, umoci and skopeo accept, with the config and files we meant', async (t) => {
  const out = join(tempDir(t), 'out', 'hello-1.0.oci');
  const layers = await sampleLayers(t);
  const written = await writeOciLayout(out, image(layers, { author: 'Sysadmin42' }));

  assert.deepEqual(readdirSync(out).sort(), ['blobs', 'index.json', 'oci-layout']);
  assert.equal(readFileSync(join(out, 'oci-layout'), 'utf8'), '{"imageLayoutVersion":"1.0.0"}');
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  assert.deepEqual(index, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: written.manifestDigest,
        size: written.size,
        platform: { architecture: 'amd64', os: 'linux' },
        annotations: { 'org.opencontainers.image.ref.name': '1.0-r1' },
      },
    ],
  });
  const manifestBytes = readFileSync(join(out, 'blobs/sha256', written.manifestDigest.slice(7)));
  assert.equal(`sha256:${sha256(manifestBytes)}`, written.manifestDigest);
  assert.equal(manifestBytes.length, written.size);
  const manifest = blobJson(out, written.manifestDigest);
  assert.deepEqual(manifest, {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: written.configDigest,
      size: statSync(join(out, 'blobs/sha256', written.configDigest.slice(7))).size,
    },
    layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
  });
  const created = isoSeconds(EPOCH);
  assert.equal(created, '2023-11-14T22:13:20Z');
  assert.deepEqual(blobJson(out, written.configDigest), {
    architecture: 'amd64',
    os: 'linux',
    created,
    author: 'Sysadmin42',
    config: CONFIG,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((l) => ({ created, created_by: l.createdBy })),
  });

  const validated = tool('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=1.0-r1', out]);
  assert.match(validated.stdout + validated.stderr, /Validation succeeded/);

  const config = JSON.parse(tool('skopeo', ['inspect', '--config', `oci:${out}:1.0-r1`]).stdout);
  assert.deepEqual(config.config.Entrypoint, CONFIG.Entrypoint);
  assert.deepEqual(config.config.Env, CONFIG.Env);
  assert.deepEqual(config.config.Labels, CONFIG.Labels);
  const inspected = JSON.parse(tool('skopeo', ['inspect', `oci:${out}:1.0-r1`]).stdout);
  assert.equal(inspected.Digest, written.manifestDigest);
  assert.deepEqual(
    inspected.Layers,
    layers.map((l) => l.digest),
  );

  const bundle = join(tempDir(t), 'bundle');
  const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
  tool('umoci', ['unpack', ...rootless, '--image', `${out}:1.0-r1`, bundle]);
  const rootfs = join(bundle, 'rootfs');
  assert.equal(readFileSync(join(rootfs, 'usr/bin/hello'), 'utf8'), '#!/bin/sh\necho hello\n');
  assert.equal(statSync(join(rootfs, 'usr/bin/hello')).mode & 0o7777, 0o755);
  assert.equal(readFileSync(join(rootfs, 'usr/bin/hi'), 'utf8'), '#!/bin/sh\necho hello\n');
  const conf = statSync(join(rootfs, 'etc/app/app.conf'));
  assert.equal(conf.mode & 0o7777, 0o640);
  if (rootless.length === 0) assert.deepEqual([conf.uid, conf.gid], [1000, 1000]);
  assert.equal(statSync(join(rootfs, 'etc/app')).mode & 0o7777, 0o755);
  const runtime = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
  assert.deepEqual(runtime.process.args, ['/usr/bin/hello', '--loud']);
  assert.equal(runtime.process.cwd, '/srv');
});

test('a static binary in a layer runs under podman', async (t) => {
  // podman names the image after the layout's path, and image names must be lowercase.
  const dir = join(tmpdir(), `buildit-podman-${randomBytes(6).toString('hex')}`);
  mkdirSync(dir);
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'hi.c'), '#include <stdio.h>\nint main(){puts("hi from podman");}\n');
  mkdirSync(join(dir, 'tree/usr/bin'), { recursive: true });
  tool('cc', ['-static', '-O2', '-o', join(dir, 'tree/usr/bin/hi'), join(dir, 'hi.c')]);
  const layer = await entriesLayer(t, await scanTree(join(dir, 'tree'), { normalizeModes: false }), 'hi');
  const out = join(dir, 'hi.oci');
  await writeOciLayout(out, image([layer], { config: { Cmd: ['/usr/bin/hi'] }, tag: 'test' }));
  assert.equal(podmanRun(out, 'test', ['/usr/bin/hi']), 'hi from podman\n');
});

test('layers are hardlinked from their file when they have one, copied and verified otherwise', async (t) => {
  const [pkg, sync] = await sampleLayers(t);
  const out = join(tempDir(t), 'x.oci');
  const copied: LayerBlob = { ...sync!, file: undefined };
  await writeOciLayout(out, image([pkg!, copied]));
  const blob = (l: LayerBlob) => statSync(join(out, 'blobs/sha256', l.digest.slice(7)));
  assert.equal(blob(pkg!).ino, statSync(pkg!.file!).ino);
  assert.notEqual(blob(sync!).ino, statSync(sync!.file!).ino);

  const lying: LayerBlob = { ...pkg!, file: undefined, digest: sync!.digest };
  const out2 = join(tempDir(t), 'y.oci');
  await assert.rejects(
    writeOciLayout(out2, image([lying])),
    /its bytes \(sha256:[0-9a-f]+, \d+ bytes\) are not sha256:/,
  );
  assert.equal(existsSync(out2), false);
});

test('on another filesystem a layer file is copied whole (mode 0644), and a file of the wrong size is refused', async (t) => {
  const [pkg] = await sampleLayers(t);
  assert.ok(existsSync('/dev/shm'), 'needs /dev/shm (a tmpfs) as the other filesystem');
  const shm = mkdtempSync('/dev/shm/buildit-test-');
  t.after(() => rmSync(shm, { recursive: true, force: true }));
  assert.notEqual(
    statSync(shm).dev,
    statSync(pkg!.file!).dev,
    'the layer file and /dev/shm share a filesystem',
  );
  const out = join(shm, 'x.oci');
  await writeOciLayout(out, image([pkg!]));
  const blob = join(out, 'blobs/sha256', pkg!.digest.slice(7));
  assert.ok(readFileSync(blob).equals(readFileSync(pkg!.file!)));
  assert.equal(statSync(blob).mode & 0o777, 0o644);

  const short: LayerBlob = { ...pkg!, size: pkg!.size + 1 };
  const out2 = join(shm, 'y.oci');
  await assert.rejects(writeOciLayout(out2, image([short])), /holds \d+ bytes, not \d+/);
  assert.equal(existsSync(out2), false);
});

test('a write that fails midway leaves no output; an earlier layout stays until a good one replaces it', async (t) => {
  const parent = tempDir(t);
  const out = join(parent, 'app.oci');
  const [pkg, sync] = await sampleLayers(t);
  await assert.rejects(writeOciLayout(out, image([pkg!, brokenLayer(sync!)])), /disk on fire/);
  assert.deepEqual(readdirSync(parent), []);

  const first = await writeOciLayout(out, image([pkg!]));
  await assert.rejects(writeOciLayout(out, image([pkg!, brokenLayer(sync!)])), /disk on fire/);
  assert.deepEqual(readdirSync(parent), ['app.oci']);
  assert.match(readFileSync(join(out, 'index.json'), 'utf8'), new RegExp(first.manifestDigest));

  const second = await writeOciLayout(out, image([pkg!, sync!]));
  assert.deepEqual(readdirSync(parent), ['app.oci']);
  assert.match(readFileSync(join(out, 'index.json'), 'utf8'), new RegExp(second.manifestDigest));
  assert.equal(readdirSync(join(out, 'blobs/sha256')).length, 4); // two layers, config, manifest

  await assert.rejects(writeOciLayout(out, image([pkg!], { tag: 'bad tag' })), { code: 'BUILDIT_IMAGE_TAG' });
});

test('beyond the layer limit the smallest adjacent layers are merged, later files winning', async (t) => {
  // Sizes are the gzip'd sizes, so the big layers need bytes gzip cannot squeeze.
  const noise = (n: number) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919) % 251));
  const layers = [
    await entriesLayer(t, [file('base', noise(300_000))], 'base'),
    await entriesLayer(t, [file('etc/a', 'one')], 'small 1'),
    await entriesLayer(t, [file('etc/a', 'two'), file('etc/b', 'b')], 'small 2'),
    await entriesLayer(t, [file('top', noise(200_000))], 'top'),
  ];
  const out = join(tempDir(t), 'merged.oci');
  const written = await writeOciLayout(out, image(layers, { maxLayers: 3 }));
  const manifest = blobJson(out, written.manifestDigest) as { layers: { digest: string }[] };
  assert.equal(manifest.layers.length, 3);
  assert.equal(manifest.layers[0]!.digest, layers[0]!.digest);
  assert.equal(manifest.layers[2]!.digest, layers[3]!.digest);
  const config = blobJson(out, written.configDigest) as { history: { created_by: string }[] };
  assert.deepEqual(
    config.history.map((h) => h.created_by),
    ['base', 'small 1; small 2', 'top'],
  );
  tool('oci-image-tool', ['validate', '--type', 'image', out]);
  const bundle = join(tempDir(t), 'bundle');
  tool('umoci', [
    'unpack',
    ...(process.getuid?.() === 0 ? [] : ['--rootless']),
    '--image',
    `${out}:1.0-r1`,
    bundle,
  ]);
  assert.equal(readFileSync(join(bundle, 'rootfs/etc/a'), 'utf8'), 'two');
  assert.equal(readFileSync(join(bundle, 'rootfs/etc/b'), 'utf8'), 'b');
  assert.equal(statSync(join(bundle, 'rootfs/base')).size, 300_000);
});
