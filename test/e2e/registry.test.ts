/**
 * Registries, against the real docker-registry server on loopback in three
 * configurations: push (the digest skopeo sees is the layout's), copy back
 * byte-identical, build on a base image, and the failures.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildit, testEnv, type CliResult } from '../helpers/cli.ts';
import { startRegistry, type RegistryServer } from '../helpers/registry.ts';
import { repoCopy, testdir } from '../helpers/testdir.ts';
import { podmanRun, tool } from '../helpers/tools.ts';

const servers: Partial<Record<'anonymous' | 'basic' | 'token', RegistryServer>> = {};

before(async () => {
  servers.anonymous = await startRegistry('anonymous');
  servers.basic = await startRegistry('basic');
  servers.token = await startRegistry('token');
});

after(async () => {
  await Promise.all(Object.values(servers).map((s) => s?.stop()));
});

function pushEvent(r: CliResult): Record<string, unknown> {
  return r.events.find((e) => e['type'] === 'push')!;
}

function ociDigest(r: CliResult): unknown {
  return r.events.find((e) => e['type'] === 'image' && e['format'] === 'oci')!['digest'];
}

/** skopeo flags to reach a registry server. */
function skopeoAuth(server: RegistryServer, prefix: 'src' | 'dest' | ''): string[] {
  const flag = (name: string) => (prefix ? `--${prefix}-${name}` : `--${name}`);
  return [
    flag('tls-verify=false'),
    ...(server.username ? [flag('creds'), `${server.username}:${server.password}`] : []),
  ];
}

function pushEnv(server: RegistryServer): NodeJS.ProcessEnv {
  return testEnv(
    server.username
      ? { BUILDIT_REGISTRY_USERNAME: server.username, BUILDIT_REGISTRY_PASSWORD: server.password! }
      : {},
  );
}

function registryArgs(server: RegistryServer): string[] {
  return server.mode === 'anonymous'
    ? ['--insecure-registry', server.host]
    : ['--registry-ca', server.caFile!];
}

for (const mode of ['anonymous', 'basic', 'token'] as const) {
  test(`push to a ${mode} registry: skopeo sees the layout's digest, and copies it back byte-identical`, async () => {
    const server = servers[mode]!;
    const h = repoCopy('examples/hello');
    const ref = `${server.host}/buildit/hello:1.0`;
    const r = await buildit(['push', h.ctr, ref, '-o', h.out, '--json', ...registryArgs(server)], {
      env: pushEnv(server),
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(pushEvent(r)['digest'], ociDigest(r));
    const inspected = JSON.parse(tool('skopeo', ['inspect', ...skopeoAuth(server, ''), `docker://${ref}`]));
    assert.equal(inspected.Digest, ociDigest(r));
    const back = path.join(testdir(), 'back');
    tool('skopeo', ['copy', ...skopeoAuth(server, 'src'), `docker://${ref}`, `oci:${back}:1.0`]);
    const hex = String(ociDigest(r)).slice('sha256:'.length);
    assert.deepEqual(
      readFileSync(path.join(back, 'blobs/sha256', hex)),
      readFileSync(path.join(h.out, 'hello-1.0-p1.oci/blobs/sha256', hex)),
    );
  });
}

test('an image step on a base image from the registry: runs under podman with the base files and ours', async () => {
  const server = servers.anonymous!;
  const base = repoCopy('examples/hello');
  const baseRef = `${server.host}/buildit/base:1.0`;
  const pushed = await buildit([
    'push',
    base.ctr,
    baseRef,
    '-o',
    base.out,
    '--json',
    '--insecure-registry',
    server.host,
  ]);
  assert.equal(pushed.code, 0, pushed.stderr);
  const dir = testdir({
    'ctr/container.yaml': `- vars: { name: onbase, version: "1.0" }
- sync: { src: ./motd.txt, dest: /etc/hello/motd.txt, chmod: 0644 }
- image:
    type: oci
    base: ${baseRef}
    content: '{ "Env": ["GREETING=on a base"] }'
`,
    'ctr/motd.txt': 'This line comes from our layer on top of the base.\n',
  });
  const r = await buildit([
    path.join(dir, 'ctr'),
    '-o',
    path.join(dir, 'out'),
    '--json',
    '--insecure-registry',
    server.host,
  ]);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const layout = path.join(dir, 'out/onbase-1.0.oci');
  const config = JSON.parse(tool('skopeo', ['inspect', '--config', `oci:${layout}:1.0`]));
  assert.deepEqual(config.config.Entrypoint, ['/usr/bin/hello'], "the base's Entrypoint is kept");
  assert.ok(config.config.Env.includes('GREETING=on a base'));
  const stdout = podmanRun(layout, '1.0');
  assert.match(stdout, /HELLO FROM BUILDIT!/, "the base's program");
  assert.match(stdout, /This line comes from our layer/, 'our file');
});

test('bad input and failures: no secret ever printed', async () => {
  const h = repoCopy('examples/hello');
  const malformed = await buildit(['push', h.ctr, 'Not A/Reference:!', '-o', h.out, '--json']);
  assert.equal(malformed.code, 2);
  assert.equal(malformed.events.find((e) => e['type'] === 'error')!['code'], 'BUILDIT_REGISTRY_REFERENCE');

  const server = servers.basic!;
  const wrong = await buildit(
    [
      'push',
      h.ctr,
      `${server.host}/buildit/hello:1.0`,
      '-o',
      h.out,
      '--json',
      '--registry-ca',
      server.caFile!,
    ],
    {
      env: testEnv({
        BUILDIT_REGISTRY_USERNAME: 'tester',
        BUILDIT_REGISTRY_PASSWORD: 'not-the-password-3141',
      }),
    },
  );
  assert.equal(wrong.code, 1, wrong.stdout);
  assert.equal(wrong.events.find((e) => e['type'] === 'error')!['code'], 'BUILDIT_REGISTRY_AUTH');
  assert.ok(
    !(wrong.stdout + wrong.stderr).includes('not-the-password-3141'),
    'the password is never printed',
  );

  const down = await buildit([
    'push',
    h.ctr,
    '127.0.0.1:9/buildit/hello:1.0',
    '-o',
    h.out,
    '--json',
    '--insecure-registry',
    '127.0.0.1:9',
  ]);
  assert.equal(down.code, 1);
  assert.equal(down.events.find((e) => e['type'] === 'error')!['code'], 'BUILDIT_REGISTRY_UNREACHABLE');

  const readonly = await startRegistry('anonymous', { readonly: true });
  try {
    const rejected = await buildit([
      'push',
      h.ctr,
      `${readonly.host}/buildit/hello:1.0`,
      '-o',
      h.out,
      '--json',
      '--insecure-registry',
      readonly.host,
    ]);
    assert.equal(rejected.code, 1, rejected.stdout);
    const error = rejected.events.find((e) => e['type'] === 'error')!;
    assert.equal(error['code'], 'BUILDIT_REGISTRY_REJECTED');
    assert.match(
      String(error['message']),
      /HTTP 405: Method not allowed/,
      "the registry's own error is shown",
    );
  } finally {
    await readonly.stop();
  }
});

test('a base image without the target platform is an error naming the platforms', async () => {
  const server = servers.anonymous!;
  const dir = testdir({
    'ctr/container.yaml': `- vars: { name: arm, version: "1.0", arch: arm64 }
- image: { type: oci, base: ${server.host}/buildit/base:1.0, content: '{}' }
`,
  });
  const r = await buildit([
    path.join(dir, 'ctr'),
    '-o',
    path.join(dir, 'out'),
    '--json',
    '--insecure-registry',
    server.host,
  ]);
  assert.equal(r.code, 1, r.stdout);
  const error = r.events.find((e) => e['type'] === 'error')!;
  assert.equal(error['code'], 'BUILDIT_REGISTRY_PLATFORM');
  assert.match(String(error['message']), /amd64/);
});
