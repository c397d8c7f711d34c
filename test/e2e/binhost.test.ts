/**
 * Binhosts end to end, against real servers on loopback: builder A builds
 * examples/hello and pushes over SFTP (OpenSSH sshd); builder B, with another
 * empty store, finds every package through nginx over TLS serving the same
 * folder — zero source builds, identical image digests. Then the faults.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { buildit, builditBin, testEnv, type CliResult } from '../helpers/cli.ts';
import {
  startFaultProxy,
  startNginx,
  startSshd,
  type NginxServer,
  type SshdServer,
} from '../helpers/servers.ts';
import { repoCopy, testdir } from '../helpers/testdir.ts';
import { tool } from '../helpers/tools.ts';

let sshd: SshdServer;
let nginx: NginxServer;
let keys: string;
let pubLine: string;
let first: CliResult;

/** A copy of examples/hello with a config written by `config`. */
function builder(config: string): { ctr: string; out: string; env: NodeJS.ProcessEnv } {
  return { ...repoCopy('examples/hello', { config }), env: testEnv() };
}

/** The seed's repository block, pointing at the loopback servers. */
function repositoryConfig(): string {
  return `repository:
    name: testbinhost
    upload-type: ssh
    upload-path: ${sshd.user}@127.0.0.1:${sshd.port}/${sshd.root}
    download-type: https
    download-path: ${nginx.url}
    identity-file: ${sshd.identityFile}
    known-hosts: ${sshd.knownHostsFile}
    ca-file: ${nginx.caFile}
signing-key: ${path.join(keys, 'builder-a.sec')}
`;
}

function digests(r: CliResult): unknown[] {
  return r.events.filter((e) => e['type'] === 'image').map((e) => e['digest']);
}

function sources(r: CliResult): unknown[] {
  return r.events.filter((e) => e['type'] === 'package').map((e) => e['source']);
}

before(async () => {
  sshd = await startSshd();
  nginx = await startNginx(sshd.root);
  keys = testdir();
  const gen = await buildit(['keygen', 'builder-a', '--out', keys]);
  assert.equal(gen.code, 0, gen.stderr);
  pubLine = readFileSync(path.join(keys, 'builder-a.pub'), 'utf8').trim();
});

after(async () => {
  await nginx?.stop();
  await sshd?.stop();
});

test('builder A builds examples/hello and pushes it over SFTP, in the seed command line form', async () => {
  const a = builder(repositoryConfig());
  first = await buildit([a.ctr, '-o', a.out, '--json', `--discover=${nginx.url},push=True`], { env: a.env });
  assert.equal(first.code, 0, first.stdout + first.stderr);
  assert.deepEqual(sources(first), ['build']);
  const id = String(first.events.find((e) => e['type'] === 'package')!['id']);
  const record = JSON.parse(
    readFileSync(path.join(sshd.root, 'packages/linux-amd64', id.slice(0, 2), `${id}.json`), 'utf8'),
  );
  assert.deepEqual(
    record.signatures.map((s: { keyId: string }) => s.keyId),
    ['builder-a'],
  );
  const published = readdirSync(path.join(sshd.root, 'containers/hello/1.0-p1'));
  assert.ok(published.includes('container.lock'));
  assert.ok(published.includes('hello-1.0-p1.oci'));
  assert.ok(published.includes('hello-1.0-p1-linux-amd64.aci'));
  const leftovers = readdirSync(sshd.root, { recursive: true }).filter((p) =>
    path.basename(String(p)).startsWith('.tmp-'),
  );
  assert.deepEqual(leftovers, [], 'no temporary names on the binhost');
});

test("the seed's narrative, uploads included", async () => {
  const a = builder(repositoryConfig());
  // A fresh store, so the package is looked up (found on the binhost) and the container pushed again.
  const r = await buildit([a.ctr, '-o', a.out, `--discover=${nginx.url},push=True`], { env: a.env });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Building Sysadmin42\/hello-1\.0-p1$/m);
  assert.match(r.stdout, /^ {4}Downloading from 'testbinhost'\.\.\. +\[OK\]$/m);
  assert.match(r.stdout, /^Uploading container spec and image\(s\) to 'testbinhost' +\[OK\]$/m);
});

test('builder B with an empty store gets every package from the binhost over HTTPS: zero builds, same digests', () => {
  const b = builder(`trusted-keys:\n  - ${pubLine}\n`);
  const r = builditBin([b.ctr, '-o', b.out, '--json', `--discover=${nginx.url.replace('https://', '')}`], {
    env: { ...b.env, NODE_EXTRA_CA_CERTS: nginx.caFile },
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(sources(r), ['binhost']);
  assert.equal(r.events.find((e) => e['type'] === 'package')!['binhost'], nginx.url.replace('https://', ''));
  assert.deepEqual(digests(r), digests(first));
});

test('buildit plan says which binhost has each package', async () => {
  const b = builder(`trusted-keys:\n  - ${pubLine}\n`);
  const r = await buildit(['plan', b.ctr, '--json', `--discover=${nginx.url},ca-file=${nginx.caFile}`], {
    env: b.env,
  });
  assert.equal(r.code, 0, r.stderr);
  const pkg = r.events.find((e) => e['type'] === 'package')!;
  assert.equal(pkg['source'], 'binhost');
});

test('nginx down: a warning, then a local build (exit 0)', async () => {
  const down = await startNginx(sshd.root);
  const url = down.url;
  await down.stop();
  const b = builder(`trusted-keys:\n  - ${pubLine}\n`);
  const r = await buildit([b.ctr, '-o', b.out, '--json', `--discover=${url},ca-file=${nginx.caFile}`], {
    env: b.env,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(sources(r), ['build']);
  assert.ok(r.events.some((e) => e['type'] === 'warning' && /unavailable/.test(String(e['message']))));
  assert.deepEqual(digests(r), digests(first));
});

test('an HTTP 500, then success: retried', async () => {
  const proxy = await startFaultProxy(nginx.url, nginx.caFile);
  try {
    proxy.failNext(1, 500);
    const b = builder(`trusted-keys:\n  - ${pubLine}\n`);
    const r = await buildit([b.ctr, '-o', b.out, '--json', `--discover=${proxy.url}`], { env: b.env });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(sources(r), ['binhost']);
    assert.ok(proxy.requests >= 3, `the failed request was retried (${proxy.requests} requests)`);
  } finally {
    await proxy.stop();
  }
});

test('a record signed by an unknown key is rejected: a warning, then a local build', async () => {
  const other = testdir();
  await buildit(['keygen', 'stranger', '--out', other]);
  const b = builder(`trusted-keys:\n  - ${readFileSync(path.join(other, 'stranger.pub'), 'utf8').trim()}\n`);
  const r = await buildit([b.ctr, '-o', b.out, '--json', `--discover=${nginx.url},ca-file=${nginx.caFile}`], {
    env: b.env,
  });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(sources(r), ['build']);
  const warning = r.events.find((e) => e['type'] === 'warning')!;
  assert.match(String(warning['message']), /signed by no trusted key \(signed by builder-a\)/);
});

test('an artifact tampered with on the server is rejected and rebuilt locally', async () => {
  const id = String(first.events.find((e) => e['type'] === 'package')!['id']);
  const record = JSON.parse(
    readFileSync(path.join(sshd.root, 'packages/linux-amd64', id.slice(0, 2), `${id}.json`), 'utf8'),
  );
  const hex = String(record.artifact.digest).slice('sha256:'.length);
  const blob = path.join(sshd.root, 'blobs/sha256', hex.slice(0, 2), hex);
  const original = readFileSync(blob);
  try {
    const tampered = Buffer.from(original);
    tampered[tampered.length - 20] = tampered[tampered.length - 20]! ^ 0xff;
    writeFileSync(blob, tampered);
    const b = builder(`trusted-keys:\n  - ${pubLine}\n`);
    const r = await buildit(
      [b.ctr, '-o', b.out, '--json', `--discover=${nginx.url},ca-file=${nginx.caFile}`],
      { env: b.env },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(sources(r), ['build']);
    assert.ok(r.events.some((e) => e['type'] === 'warning' && /does not match/.test(String(e['message']))));
    assert.deepEqual(digests(r), digests(first));
  } finally {
    writeFileSync(blob, original);
  }
});

test('a binhost doubles as a source mirror: with the upstream gone, a build fetches its source by sha256', async () => {
  const upstream = testdir({ 'pkg/data.txt': 'mirrored source\n' });
  const tarball = path.join(upstream, 'src.tar.gz');
  tool('tar', ['-czf', tarball, '-C', upstream, 'pkg']);
  const sha = createHash('sha256').update(readFileSync(tarball)).digest('hex');
  const recipe = `source:\n  - url: file://${tarball}\n    sha256: ${sha}\nuse:\n  loud: { default: false, enable: [LOUD=1] }\nbuild:\n  - install -D -m 0644 data.txt "$DESTDIR/usr/share/mirror/data.txt"\n`;
  const setup = (config: string, use: string) => {
    const root = testdir({
      '.buildit-config.yaml': `recipes: [./recipes]\n${config}`,
      'recipes/app-test/mirror/mirror-1.0.yaml': recipe,
      'ctr/container.yaml': `- vars: { name: mirror, version: "1" }\n- package: { type: recipe, atom: app-test/mirror-1.0${use} }\n- image: { type: oci, content: "{}" }\n`,
    });
    return { ctr: path.join(root, 'ctr'), out: path.join(root, 'out'), env: testEnv() };
  };
  const a = setup(repositoryConfig(), '');
  const pushed = await buildit([a.ctr, '-o', a.out, '--json', '--push'], { env: a.env });
  assert.equal(pushed.code, 0, pushed.stdout + pushed.stderr);
  rmSync(tarball);
  // Another flag: another identity, so builder B must build, and its source is only on the binhost now.
  const b = setup(`trusted-keys:\n  - ${pubLine}\n`, ', use: { with: [loud] }');
  const r = await buildit([b.ctr, '-o', b.out, '--json', `--discover=${nginx.url},ca-file=${nginx.caFile}`], {
    env: b.env,
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.deepEqual(sources(r), ['build']);
});
