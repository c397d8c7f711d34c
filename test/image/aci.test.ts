import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { appcArch, withPlatformLabels, writeAci, type AciImage } from '../../src/image/aci.ts';
import type { LayerBlob } from '../../src/image/layer.ts';
import { syncEntries } from '../../src/image/sync-layer.ts';
import { gnuList, tempDir, type Listed } from './helpers.ts';
import { brokenLayer, dir, entriesLayer, EPOCH, file, tool, treeLayer } from './image-helpers.ts';

const MANIFEST = {
  acKind: 'ImageManifest',
  acVersion: '0.8.11',
  name: 'example.com/nginx-production',
  labels: [{ name: 'version', value: '1.7.6-p1' }],
  app: {
    exec: ['/usr/sbin/nginx', '-g', 'daemon off;'],
    user: '0',
    group: '0',
    environment: [{ name: 'TZ', value: 'UTC' }],
    ports: [{ name: 'http', protocol: 'tcp', port: 80 }],
  },
  annotations: [{ name: 'authors', value: 'Sysadmin42' }],
};

function aci(layers: LayerBlob[], extra: Partial<AciImage> = {}): AciImage {
  return { layers, manifest: MANIFEST, os: 'linux', arch: 'amd64', mtime: EPOCH, ...extra };
}

const show = (l: Listed) =>
  `${l.type}${l.mode.toString(8)} ${l.owner} ${l.path}${l.target ? ` -> ${l.target}` : ''}`;

test('an ACI that actool validates: manifest with os/arch labels, rootfs merged with later layers winning', async (t) => {
  const base = await treeLayer(t, [
    ['usr/sbin/nginx', { file: 'nginx v1', mode: 0o755 }],
    ['etc/nginx/nginx.conf', 'default config'],
    ['etc/nginx/mime.types', 'types'],
    ['usr/sbin/nginx-debug', { hardlink: 'usr/sbin/nginx' }],
  ]);
  const update = await treeLayer(t, [['usr/sbin/nginx', { file: 'nginx v2', mode: 0o750 }]]);
  const confDir = tempDir(t);
  writeFileSync(join(confDir, 'nginx.conf'), 'our config');
  const sync = await entriesLayer(
    t,
    await syncEntries([
      {
        src: join(confDir, 'nginx.conf'),
        isDir: false,
        dest: '/etc/nginx/nginx.conf',
        mode: 0o600,
        owner: { uid: 101, gid: 101 },
      },
    ]),
  );
  const out = join(tempDir(t), 'out', 'nginx-production-1.7.6-p1-linux-amd64.aci');
  const { imageId } = await writeAci(out, aci([base, update, sync]));

  const validated = tool('actool', ['--debug', 'validate', out]);
  assert.match(validated.stdout + validated.stderr, /valid app container image/);
  const manifest = JSON.parse(tool('actool', ['cat-manifest', out]).stdout);
  assert.deepEqual(manifest, {
    ...MANIFEST,
    labels: [
      { name: 'version', value: '1.7.6-p1' },
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ],
  });

  const gz = readFileSync(out);
  const tar = gunzipSync(gz);
  assert.equal(imageId, `sha512-${createHash('sha512').update(tar).digest('hex')}`);
  const tarFile = join(tempDir(t), 'image.tar');
  writeFileSync(tarFile, tar);
  assert.deepEqual(gnuList(tarFile).map(show), [
    '-644 0/0 manifest',
    'd755 0/0 rootfs/',
    'd755 0/0 rootfs/etc/',
    'd755 0/0 rootfs/etc/nginx/',
    '-644 0/0 rootfs/etc/nginx/mime.types',
    '-600 101/101 rootfs/etc/nginx/nginx.conf',
    'd755 0/0 rootfs/usr/',
    'd755 0/0 rootfs/usr/sbin/',
    '-750 0/0 rootfs/usr/sbin/nginx',
    // The hardlink's target was replaced by a later layer: it keeps the old contents, as it
    // would on a real filesystem.
    '-755 0/0 rootfs/usr/sbin/nginx-debug',
  ]);
  const dest = join(tempDir(t), 'x');
  tool('mkdir', [dest]);
  tool('tar', ['-xf', tarFile, '-C', dest]);
  assert.equal(readFileSync(join(dest, 'rootfs/usr/sbin/nginx'), 'utf8'), 'nginx v2');
  assert.equal(readFileSync(join(dest, 'rootfs/usr/sbin/nginx-debug'), 'utf8'), 'nginx v1');
  assert.equal(readFileSync(join(dest, 'rootfs/etc/nginx/nginx.conf'), 'utf8'), 'our config');
});

test('hardlinks and symlinks are kept in rootfs/, with targets rewritten only for hardlinks', async (t) => {
  const layer = await entriesLayer(t, [
    dir('bin'),
    file('bin/busybox', 'bb', 0o755),
    { path: 'bin/ls', type: 'hardlink', mode: 0o755, target: 'bin/busybox' },
    { path: 'bin/sh', type: 'symlink', mode: 0o777, target: 'busybox' },
  ]);
  const out = join(tempDir(t), 'bb.aci');
  await writeAci(out, aci([layer], { arch: 'arm64' }));
  tool('actool', ['validate', out]);
  const tarFile = join(tempDir(t), 'bb.tar');
  writeFileSync(tarFile, gunzipSync(readFileSync(out)));
  assert.deepEqual(gnuList(tarFile).map(show).slice(2), [
    'd755 0/0 rootfs/bin/',
    '-755 0/0 rootfs/bin/busybox',
    'h755 0/0 rootfs/bin/ls -> rootfs/bin/busybox',
    'l777 0/0 rootfs/bin/sh -> busybox',
  ]);
  const labels = JSON.parse(tool('actool', ['cat-manifest', out]).stdout).labels;
  assert.deepEqual(labels.slice(1), [
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'aarch64' },
  ]);
});

test('os/arch labels: added only when missing, in appc names', () => {
  const given = { labels: [{ name: 'arch', value: 'armv6l' }] };
  assert.deepEqual(withPlatformLabels(given, 'linux', 'arm'), {
    labels: [
      { name: 'arch', value: 'armv6l' },
      { name: 'os', value: 'linux' },
    ],
  });
  assert.deepEqual(withPlatformLabels({}, 'linux', 'amd64').labels, [
    { name: 'os', value: 'linux' },
    { name: 'arch', value: 'amd64' },
  ]);
  assert.deepEqual(given.labels.length, 1); // the input is not modified
  assert.equal(appcArch('linux', 'arm64'), 'aarch64');
  assert.equal(appcArch('linux', '386'), 'i386');
  assert.equal(appcArch('linux', 'arm'), 'armv7l');
  assert.equal(appcArch('linux', 'ppc64le'), 'ppc64le');
  assert.equal(appcArch('darwin', 'amd64'), 'x86_64');
  assert.throws(() => withPlatformLabels({ labels: {} }, 'linux', 'amd64'), /labels must be an array/);
});

test('a write that fails midway leaves no ACI at the final name and keeps an earlier one', async (t) => {
  const parent = tempDir(t);
  const out = join(parent, 'app-linux-amd64.aci');
  const good = await entriesLayer(t, [file('big', Buffer.alloc(1 << 20, 7))]);
  await assert.rejects(writeAci(out, aci([brokenLayer(good)])), /disk on fire/);
  assert.deepEqual(readdirSync(parent), []);
  const { imageId } = await writeAci(out, aci([good]));
  await assert.rejects(writeAci(out, aci([good, brokenLayer(good)])), /disk on fire/);
  assert.deepEqual(readdirSync(parent), ['app-linux-amd64.aci']);
  const tar = gunzipSync(readFileSync(out));
  assert.equal(imageId, `sha512-${createHash('sha512').update(tar).digest('hex')}`);
});
