import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { startFaultProxy, startNginx, startSshd } from './servers.ts';
import { testdir } from './testdir.ts';
import { requireTool, tool } from './tools.ts';

/** The part of ssh2-sftp-client (which ships no types) these tests use. */
interface SftpClient {
  connect(config: {
    host: string;
    port: number;
    username: string;
    privateKey: Buffer;
    hostVerifier?: (key: Buffer) => boolean;
    readyTimeout?: number;
  }): Promise<unknown>;
  put(src: Buffer | NodeJS.ReadableStream, remotePath: string): Promise<string>;
  get(remotePath: string): Promise<Buffer>;
  end(): Promise<boolean>;
}
type Events = { error: (err: Error) => void; end: () => void; close: () => void };
const SftpClient = createRequire(import.meta.url)('ssh2-sftp-client') as new (
  name: string,
  events: Events,
) => SftpClient;

const TIMEOUT = { timeout: 120_000 };

/** Every process a test saw, and the temp folders its servers named: none may survive the file. */
const seenPids = new Set<number>();
const seenDirs = new Set<string>();

function pgrep(args: string[]): number[] {
  requireTool('pgrep');
  const r = spawnSync('pgrep', args, { encoding: 'utf8' });
  assert.ok(r.status === 0 || r.status === 1, `pgrep ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).map(Number);
}

/** `pid` and its descendants, as pgrep sees them now; remembered for the final check. */
function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) out.push(...pgrep(['-P', String(out[i])]));
  for (const p of out) seenPids.add(p);
  return out;
}

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

function sftpClient(): { client: SftpClient; closed: Promise<void> } {
  let closedNow = (): void => {};
  const closed = new Promise<void>((resolve) => (closedNow = resolve));
  const client = new SftpClient('test', { error: () => {}, end: () => {}, close: () => closedNow() });
  return { client, closed };
}

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One request; rejects when the connection fails or the body is cut short. */
function request(url: string, options: https.RequestOptions = {}, body?: string): Promise<Answer> {
  const client = url.startsWith('https:') ? https : http;
  return new Promise((resolve, reject) => {
    const req = client.request(url, { agent: false, timeout: 30_000, ...options }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('close', () => {
        if (!res.complete) reject(new Error('response cut short'));
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on('timeout', () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

function refuses(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.on('connect', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(true));
  });
}

async function eventually(what: string, check: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('sshd: the OpenSSH sftp client puts a file into root, checking the host key', TIMEOUT, async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  seenDirs.add(path.dirname(sshd.identityFile));
  processTree(sshd.pid);

  assert.equal(sshd.host, '127.0.0.1');
  assert.equal(sshd.user, 'root');
  assert.ok(path.isAbsolute(sshd.root));
  assert.deepEqual(tool('ls', ['-A', sshd.root]), '');
  assert.match(
    readFileSync(sshd.knownHostsFile, 'utf8'),
    new RegExp(`^\\[127\\.0\\.0\\.1\\]:${sshd.port} ssh-ed25519 AAAA\\S+\\n$`),
  );
  // The fingerprint is the one ssh-keygen prints for the known host key ...
  const listed = tool('ssh-keygen', ['-lf', sshd.knownHostsFile]).split(/\s+/);
  assert.equal(listed[1], sshd.hostKeyFingerprint);
  assert.match(sshd.hostKeyFingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
  // ... and the key the running server presents.
  const scanned = tool('ssh-keyscan', ['-p', String(sshd.port), '-t', 'ed25519', '127.0.0.1']);
  const scannedFile = path.join(testdir({ known_hosts: scanned }), 'known_hosts');
  assert.equal(tool('ssh-keygen', ['-lf', scannedFile]).split(/\s+/)[1], sshd.hostKeyFingerprint);

  const local = testdir({ 'hello.txt': 'hello over sftp\n' });
  const batch = path.join(local, 'batch');
  writeFileSync(batch, `put ${path.join(local, 'hello.txt')} ${sshd.root}/hello.txt\n`);
  const sftp = (knownHosts: string): string[] => [
    '-b',
    batch,
    '-i',
    sshd.identityFile,
    '-o',
    `UserKnownHostsFile=${knownHosts}`,
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'BatchMode=yes',
    '-P',
    String(sshd.port),
    `${sshd.user}@127.0.0.1`,
  ];
  tool('sftp', sftp(sshd.knownHostsFile));
  assert.equal(readFileSync(path.join(sshd.root, 'hello.txt'), 'utf8'), 'hello over sftp\n');

  // A client that knows another host key refuses to connect.
  const otherHosts = path.join(
    testdir({ known_hosts: `[127.0.0.1]:${sshd.port} ${readFileSync(`${sshd.identityFile}.pub`, 'utf8')}` }),
    'known_hosts',
  );
  const refused = spawnSync('sftp', sftp(otherHosts), {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.notEqual(refused.status, 0);
  assert.match(refused.stderr, /host key/i);

  const identityFile = sshd.identityFile;
  await sshd.stop();
  assert.equal(existsSync(identityFile), false, 'stop() removes the temp files');
  assert.equal(await refuses(sshd.port), true);
  await sshd.stop(); // twice is fine
});

test(
  'sshd: ssh2-sftp-client connects with the identity file and puts and gets a file',
  TIMEOUT,
  async (t) => {
    const sshd = await startSshd();
    t.after(() => sshd.stop());
    seenDirs.add(path.dirname(sshd.identityFile));

    const { client } = sftpClient();
    let presented = '';
    await client.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: readFileSync(sshd.identityFile),
      readyTimeout: 60_000,
      hostVerifier: (key) => {
        presented = `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
        return presented === sshd.hostKeyFingerprint;
      },
    });
    try {
      assert.equal(presented, sshd.hostKeyFingerprint);
      processTree(sshd.pid); // with a session open: the connection's processes too
      const data = Buffer.from('bytes through ssh2-sftp-client\n'.repeat(1000));
      await client.put(data, `${sshd.root}/up.bin`);
      assert.equal(sha256(readFileSync(path.join(sshd.root, 'up.bin'))), sha256(data));
      assert.equal(sha256(await client.get(`${sshd.root}/up.bin`)), sha256(data));
    } finally {
      await client.end();
    }
  },
);

test('sshd: stop() ends open connections', TIMEOUT, async (t) => {
  const sshd = await startSshd();
  t.after(() => sshd.stop());
  seenDirs.add(path.dirname(sshd.identityFile));
  const { client, closed } = sftpClient();
  await client.connect({
    host: sshd.host,
    port: sshd.port,
    username: sshd.user,
    privateKey: readFileSync(sshd.identityFile),
    readyTimeout: 60_000,
  });
  const pids = processTree(sshd.pid);
  assert.ok(pids.length > 1, `a connection runs in its own processes (${pids.join(' ')})`);
  await sshd.stop();
  await closed;
  assert.deepEqual(
    pids.filter((p) => existsSync(`/proc/${p}`)),
    [],
  );
});

test(
  'sshd: kill() during an upload drops the connection at once, and stop() still cleans up',
  TIMEOUT,
  async (t) => {
    const sshd = await startSshd();
    t.after(() => sshd.stop());
    seenDirs.add(path.dirname(sshd.identityFile));
    const { client, closed } = sftpClient();
    await client.connect({
      host: sshd.host,
      port: sshd.port,
      username: sshd.user,
      privateKey: readFileSync(sshd.identityFile),
      readyTimeout: 60_000,
    });
    const source = new PassThrough();
    const target = path.join(sshd.root, 'big.bin');
    const upload = client.put(source, target);
    upload.catch(() => {}); // observed below
    source.write(Buffer.alloc(256 * 1024, 1));
    await eventually('the upload reaches the server', () => existsSync(target) && statSync(target).size > 0);
    const pids = processTree(sshd.pid);

    sshd.kill();
    await assert.rejects(upload);
    await closed;
    await eventually('sshd and its children are gone', () => !pids.some((p) => existsSync(`/proc/${p}`)));
    assert.equal(await refuses(sshd.port), true);
    source.destroy();

    const identityFile = sshd.identityFile;
    await sshd.stop();
    assert.equal(existsSync(identityFile), false);
  },
);

test('sshd: servers started together get their own ports and keys', TIMEOUT, async (t) => {
  const servers = await Promise.all([startSshd(), startSshd(), startSshd()]);
  for (const s of servers) {
    t.after(() => s.stop());
    seenDirs.add(path.dirname(s.identityFile));
    processTree(s.pid);
  }
  assert.equal(new Set(servers.map((s) => s.port)).size, 3);
  assert.equal(new Set(servers.map((s) => s.hostKeyFingerprint)).size, 3);
  await Promise.all(servers.map((s) => s.stop()));
});

test('nginx: serves root over TLS trusted through caFile; 404 for missing; HEAD', TIMEOUT, async (t) => {
  const root = testdir({ 'blobs/a.bin': 'A'.repeat(100_000), 'hello.txt': 'hello\n' });
  const nginx = await startNginx(root);
  t.after(() => nginx.stop());
  seenDirs.add(path.dirname(nginx.caFile));
  processTree(nginx.pid);

  assert.match(nginx.url, /^https:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(nginx.root, root);
  const ca = readFileSync(nginx.caFile);
  assert.match(ca.toString(), /^-----BEGIN CERTIFICATE-----/);

  const got = await request(`${nginx.url}blobs/a.bin`, { ca });
  assert.equal(got.status, 200);
  assert.equal(got.body.toString(), 'A'.repeat(100_000));
  assert.equal(got.headers['content-type'], 'application/octet-stream');

  // Files written after the start are served too.
  writeFileSync(path.join(root, 'late.json'), '{"late":true}');
  const late = await request(`${nginx.url}late.json`, { ca });
  assert.equal(late.status, 200);
  assert.equal(late.body.toString(), '{"late":true}');

  assert.equal((await request(`${nginx.url}missing/file`, { ca })).status, 404);
  assert.equal((await request(`${nginx.url}blobs/`, { ca })).status, 404, 'no directory listing');

  const head = await request(`${nginx.url}hello.txt`, { ca, method: 'HEAD' });
  assert.equal(head.status, 200);
  assert.equal(head.headers['content-length'], '6');
  assert.equal(head.body.length, 0);

  // The certificate names localhost too.
  const byName = await request(`${nginx.url}hello.txt`, {
    ca,
    servername: 'localhost',
    headers: { host: 'localhost' },
  });
  assert.equal(byName.body.toString(), 'hello\n');

  // Without the CA, verification fails.
  await assert.rejects(request(`${nginx.url}hello.txt`), (error: NodeJS.ErrnoException) => {
    assert.match(String(error.code), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|CERT/);
    return true;
  });

  const prefix = path.dirname(nginx.caFile);
  await nginx.stop();
  assert.equal(existsSync(prefix), false, 'stop() removes the temp files');
  assert.equal(existsSync(path.join(root, 'hello.txt')), true, 'stop() keeps root');
  assert.equal(await refuses(Number(new URL(nginx.url).port)), true);
});

test('fault proxy in front of nginx: failNext, resetNext, requests', TIMEOUT, async (t) => {
  const root = testdir({ 'blob.bin': 'B'.repeat(200_000) });
  const nginx = await startNginx(root);
  t.after(() => nginx.stop());
  seenDirs.add(path.dirname(nginx.caFile));
  processTree(nginx.pid);
  const proxy = await startFaultProxy(nginx.url, nginx.caFile);
  t.after(() => proxy.stop());
  assert.match(proxy.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);

  const ok = await request(`${proxy.url}blob.bin`);
  assert.equal(ok.status, 200);
  assert.equal(ok.body.length, 200_000);
  assert.equal((await request(`${proxy.url}nothing`)).status, 404);

  proxy.failNext(1, 500);
  const failed = await request(`${proxy.url}blob.bin`);
  assert.equal(failed.status, 500);
  assert.equal(failed.body.length, 0);
  assert.equal((await request(`${proxy.url}blob.bin`)).status, 200);

  proxy.failNext(2, 503);
  assert.equal((await request(`${proxy.url}a`)).status, 503);
  assert.equal((await request(`${proxy.url}b`, { method: 'HEAD' })).status, 503);
  assert.equal((await request(`${proxy.url}blob.bin`)).status, 200);

  proxy.resetNext(1);
  await assert.rejects(request(`${proxy.url}blob.bin`));
  assert.equal((await request(`${proxy.url}blob.bin`)).body.length, 200_000);

  // fetch sees it too, as a body that fails after the headers.
  proxy.resetNext(1);
  const cut = await fetch(`${proxy.url}blob.bin`);
  assert.equal(cut.status, 200);
  assert.equal(cut.headers.get('content-length'), '200000');
  await assert.rejects(cut.arrayBuffer());
  assert.equal((await fetch(`${proxy.url}blob.bin`)).status, 200);

  assert.equal(proxy.requests, 11);
  await proxy.stop();
  await assert.rejects(request(`${proxy.url}blob.bin`));
});

test(
  'fault proxy in front of plain HTTP: forwards method, path, headers and streamed body',
  TIMEOUT,
  async (t) => {
    const upstream = http.createServer((req, res) => {
      const hash = createHash('sha256');
      req.on('data', (chunk: Buffer) => hash.update(chunk));
      req.on('end', () => {
        res.writeHead(201, { 'content-type': 'application/json', 'x-upstream': 'yes' });
        res.end(
          JSON.stringify({
            method: req.method,
            url: req.url,
            header: req.headers['x-test'],
            body: hash.digest('hex'),
          }),
        );
      });
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    t.after(
      () =>
        new Promise<void>((resolve) => {
          upstream.closeAllConnections();
          upstream.close(() => resolve());
        }),
    );
    const { port } = upstream.address() as net.AddressInfo;
    const proxy = await startFaultProxy(`http://127.0.0.1:${port}/base/`);
    t.after(() => proxy.stop());

    const body = 'x'.repeat(300_000);
    const answer = await request(
      `${proxy.url}some/path?q=1`,
      { method: 'PUT', headers: { 'x-test': 'passed' } },
      body,
    );
    assert.equal(answer.status, 201);
    assert.equal(answer.headers['x-upstream'], 'yes');
    assert.deepEqual(JSON.parse(answer.body.toString()), {
      method: 'PUT',
      url: '/base/some/path?q=1',
      header: 'passed',
      body: sha256(body),
    });

    proxy.resetNext(1);
    await assert.rejects(request(`${proxy.url}x`));
    assert.equal(proxy.requests, 2);
  },
);

test('no server process outlives the tests', TIMEOUT, () => {
  assert.ok(seenPids.size > 0);
  const left = ['sshd', 'nginx', 'unshare']
    .flatMap((name) => pgrep(['-x', name]))
    .filter((p) => seenPids.has(p));
  assert.deepEqual(left, [], 'processes the servers ran are gone (zombies included)');
  for (const dir of seenDirs) {
    assert.deepEqual(pgrep(['-f', dir]), [], `no process names ${dir}`);
    assert.equal(existsSync(dir), false, `${dir} was removed`);
  }
});
