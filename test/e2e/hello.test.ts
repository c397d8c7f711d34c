/**
 * The main job end to end: `buildit examples/hello` from an empty store,
 * checked by the real tools (actool, oci-image-tool, umoci, skopeo) and run
 * with podman; then a no-op rebuild with the same digests.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { buildit, REPO, testEnv } from '../helpers/cli.ts';
import { repoCopy, testdir } from '../helpers/testdir.ts';
import { podmanRun, tool } from '../helpers/tools.ts';

const env = testEnv();
const out = testdir();
// A copy: a build writes container.lock beside container.yaml.
const hello = repoCopy('examples/hello').ctr;
let first: Awaited<ReturnType<typeof buildit>>;

function images(events: Record<string, unknown>[]): Record<string, unknown>[] {
  return events.filter((e) => e['type'] === 'image');
}

test('buildit examples/hello builds from source into an OCI layout and an ACI', async () => {
  first = await buildit([hello, '-o', out, '--json'], { env });
  assert.equal(first.code, 0, first.stderr + first.stdout);
  const pkg = first.events.find((e) => e['type'] === 'package')!;
  assert.equal(pkg['source'], 'build');
  assert.match(String(pkg['id']), /^[0-9a-f]{64}$/);
  const [oci, aci] = images(first.events);
  assert.equal(oci!['format'], 'oci');
  assert.equal(oci!['path'], path.join(out, 'hello-1.0-p1.oci'));
  assert.match(String(oci!['digest']), /^sha256:[0-9a-f]{64}$/);
  assert.equal(aci!['format'], 'aci');
  assert.equal(aci!['path'], path.join(out, 'hello-1.0-p1-linux-amd64.aci'));
  assert.match(String(aci!['digest']), /^sha512-[0-9a-f]{128}$/);
  assert.deepEqual(first.events.at(-1)!['ok'], true);
});

test('the store holds the artifact, its record and the build log', () => {
  const store = env['BUILDIT_HOME']!;
  const id = String(first.events.find((e) => e['type'] === 'package')!['id']);
  const record = JSON.parse(
    readFileSync(path.join(store, 'packages/linux-amd64', id.slice(0, 2), `${id}.json`), 'utf8'),
  );
  assert.equal(record.schema, 'buildit-pkg/v1');
  assert.equal(record.id, id);
  assert.equal(record.metadata.author, 'Sysadmin42 <sys@admin42.org>');
  const hex = record.artifact.digest.slice('sha256:'.length);
  assert.ok(existsSync(path.join(store, 'blobs/sha256', hex.slice(0, 2), hex)));
  assert.match(
    readFileSync(path.join(store, 'logs', id.slice(0, 2), `${id}.log`), 'utf8'),
    /\$ make install/,
  );
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), [], 'no leftovers in the store');
});

test('actool validates the ACI', () => {
  const aci = path.join(out, 'hello-1.0-p1-linux-amd64.aci');
  assert.match(tool('actool', ['validate', aci]) + 'ok', /ok/);
  const manifest = JSON.parse(tool('actool', ['cat-manifest', aci]));
  assert.equal(manifest.name, 'hello-1.0-p1');
  assert.deepEqual(
    manifest.labels.filter((l: { name: string }) => l.name === 'os' || l.name === 'arch'),
    [
      { name: 'os', value: 'linux' },
      { name: 'arch', value: 'amd64' },
    ],
  );
});

test('oci-image-tool validates the layout and umoci unpacks it with our files', () => {
  const layout = path.join(out, 'hello-1.0-p1.oci');
  assert.match(
    tool('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=1.0-p1', layout]),
    /Validation succeeded/,
  );
  const bundle = path.join(testdir(), 'bundle');
  tool('umoci', ['unpack', '--image', `${layout}:1.0-p1`, bundle]);
  const rootfs = path.join(bundle, 'rootfs');
  assert.ok(existsSync(path.join(rootfs, 'usr/bin/hello')));
  assert.equal(
    readFileSync(path.join(rootfs, 'etc/hello/motd.txt'), 'utf8'),
    readFileSync(path.join(REPO, 'examples/hello/files/etc/hello/motd.txt'), 'utf8'),
  );
  assert.ok(existsSync(path.join(rootfs, 'usr/share/hello/greetings.txt')));
});

test('skopeo inspect shows the rendered config', () => {
  const config = JSON.parse(
    tool('skopeo', ['inspect', '--config', `oci:${path.join(out, 'hello-1.0-p1.oci')}:1.0-p1`]),
  );
  assert.deepEqual(config.config.Entrypoint, ['/usr/bin/hello']);
  assert.equal(config.config.Labels['org.opencontainers.image.authors'], 'Sysadmin42');
  assert.equal(config.architecture, 'amd64');
  assert.equal(config.os, 'linux');
});

test('podman runs the image and prints the patched program output', () => {
  const stdout = podmanRun(path.join(out, 'hello-1.0-p1.oci'), '1.0-p1');
  assert.match(stdout, /HELLO FROM BUILDIT!/);
  assert.match(stdout, /PATCHED BY SYSADMIN42/);
});

test('a second run builds nothing and yields the same digests', async () => {
  const second = await buildit([hello, '-o', out, '--json'], { env });
  assert.equal(second.code, 0, second.stderr);
  const sources = second.events.filter((e) => e['type'] === 'package').map((e) => e['source']);
  assert.deepEqual(sources, ['store']);
  assert.deepEqual(
    images(second.events).map((e) => e['digest']),
    images(first.events).map((e) => e['digest']),
  );
});

test('the human narrative follows the seed', async () => {
  const r = await buildit([hello, '-o', testdir()], { env: testEnv() });
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  assert.equal(lines[0], 'Building Sysadmin42/hello-1.0-p1');
  assert.equal(lines[1], "Processing package from './pkgs/hello' for linux/amd64.");
  assert.match(lines[2]!, /^ {4}HASH: [0-9a-f]{64}$/);
  assert.equal(lines[3], "    Can't find HASH in any known location...");
  assert.match(lines[4]!, /^ {4}Defaulting to local build\.\.\. +\[OK\]$/);
  assert.match(lines[5]!, /^Packaging Sysadmin42\/hello-1\.0-p1 as OCI\.\.\. +\[OK\]$/);
  assert.match(lines[6]!, /^Packaging Sysadmin42\/hello-1\.0-p1 as ACI\.\.\. +\[OK\]$/);
});

test('on a terminal the narrative uses spinners; a terminal without a width gets plain lines', async () => {
  const spun = await buildit([hello, '-o', testdir()], { env: testEnv(), tty: { columns: 100 } });
  assert.equal(spun.code, 0, spun.stderr);
  const ESC = '\u001b';
  assert.ok(spun.stdout.includes(`${ESC}[?25l`), 'the spinner hides the cursor');
  assert.match(spun.stdout, /Defaulting to local build\.\.\. +\S+\[32m\[OK\]/);
  const plain = await buildit([hello, '-o', testdir()], {
    env: testEnv({ NO_COLOR: '1' }),
    tty: { columns: 0 },
  });
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(!plain.stdout.includes(ESC), 'no escape codes');
  assert.match(plain.stdout, /Defaulting to local build\.\.\. +\[OK\]\n/);
});
