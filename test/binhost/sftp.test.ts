/**
 * The SFTP backend against a real OpenSSH sshd on loopback: host keys
 * (unknown, changed, hashed entries), refused user keys, a server killed in
 * the middle of an upload, reconnecting after a broken connection.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { withRetry } from '../../src/binhost/retry.ts';
import { checkHostKey, fingerprint, parseKnownHosts } from '../../src/binhost/known-hosts.ts';
import { openSftpBinhost, type SftpBinhostOptions } from '../../src/binhost/sftp.ts';
import { BinhostError } from '../../src/binhost/types.ts';
import { startSshd, type SshdServer } from '../helpers/servers.ts';
import { testdir } from '../helpers/testdir.ts';

function optionsFor(server: SshdServer, extra: Partial<SftpBinhostOptions> = {}): SftpBinhostOptions {
  return {
    host: server.host,
    port: server.port,
    user: server.user,
    path: server.root,
    absolute: true,
    identityFile: server.identityFile,
    knownHosts: server.knownHostsFile,
    // No ssh-agent, no ~/.ssh of the person running the tests.
    env: { HOME: testdir() },
    ...extra,
  };
}

function isBinhostError(code: string, check?: (error: BinhostError) => void): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof BinhostError, String(error));
    assert.equal(error.code, code, error.message);
    check?.(error);
    return true;
  };
}

/** A fresh ed25519 key pair: [private key file, public key line]. */
function newKey(): [string, string] {
  const file = path.join(testdir(), 'id_ed25519');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'other', '-f', file]);
  return [file, readFileSync(`${file}.pub`, 'utf8').trim()];
}

/** [type, base64] of a public key line. */
function keyParts(line: string): [string, string] {
  const [type = '', base64 = ''] = line.split(/\s+/);
  return [type, base64];
}

describe('known_hosts', () => {
  const [, pubLine] = newKey();
  const [type, base64] = keyParts(pubLine);
  const blob = Buffer.from(base64, 'base64');

  test('fingerprint is ssh-keygen -l’s', () => {
    const file = path.join(testdir(), 'k.pub');
    writeFileSync(file, `${pubLine}\n`);
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' });
    assert.equal(printed.split(/\s+/)[1], fingerprint(blob));
  });

  const cases: [string, string, number, string | undefined][] = [
    ['plain host on port 22', `example.org ${type} ${base64}`, 22, undefined],
    ['plain host does not cover another port', `example.org ${type} ${base64}`, 2222, 'UNKNOWN'],
    ['[host]:port', `[example.org]:2222 ${type} ${base64}`, 2222, undefined],
    ['[host]:port is not port 22', `[example.org]:2222 ${type} ${base64}`, 22, 'UNKNOWN'],
    ['comma list', `other.org,[example.org]:2222 ${type} ${base64}`, 2222, undefined],
    ['wildcard', `*.org ${type} ${base64}`, 22, undefined],
    ['negation wins', `*.org,!example.org ${type} ${base64}`, 22, 'UNKNOWN'],
    ['case-insensitive', `EXAMPLE.org ${type} ${base64}`, 22, undefined],
    [
      'comments and markers skipped',
      `# example.org ${type} ${base64}\n@cert-authority example.org ${type} ${base64}`,
      22,
      'UNKNOWN',
    ],
    ['revoked', `@revoked * ${type} ${base64}\nexample.org ${type} ${base64}`, 22, 'REVOKED'],
    ['another key of the type', `example.org ${type} ${keyParts(newKey()[1])[1]}`, 22, 'CHANGED'],
    [
      'only another type known',
      `example.org ssh-rsa ${Buffer.from('\0\0\0\x07ssh-rsaxx').toString('base64')}`,
      22,
      'UNKNOWN',
    ],
  ];
  for (const [name, text, port, expected] of cases) {
    test(name, () => {
      const result = checkHostKey(parseKnownHosts(text), 'example.org', port, blob, '/kh');
      assert.equal(result?.code, expected && `BUILDIT_BINHOST_HOSTKEY_${expected}`, result?.message);
    });
  }
});

describe('sftp against OpenSSH', () => {
  let server: SshdServer;

  before(async () => {
    server = await startSshd();
  });
  after(async () => {
    await server?.stop();
  });

  test('an unknown host key is refused with its exact fingerprint and how to add it', async () => {
    const empty = path.join(testdir(), 'known_hosts');
    writeFileSync(empty, '');
    for (const knownHosts of [empty, path.join(testdir(), 'missing_known_hosts')]) {
      let attempts = 0;
      const backend = withRetry(openSftpBinhost(optionsFor(server, { knownHosts })), {
        baseMs: 1,
        onRetry: () => attempts++,
      });
      await assert.rejects(
        backend.has('x'),
        isBinhostError('BUILDIT_BINHOST_HOSTKEY_UNKNOWN', (error) => {
          assert.equal(error.transient, false);
          assert.equal(error.exitCode, 2);
          assert.ok(error.message.includes(`127.0.0.1:${server.port}`), error.message);
          assert.ok(error.message.includes(server.hostKeyFingerprint), error.message);
          assert.ok(
            error.hint?.includes(`ssh-keyscan -p ${server.port} -t ed25519 127.0.0.1 >> ${knownHosts}`),
            error.hint,
          );
        }),
      );
      assert.equal(attempts, 0, 'not retried');
      await backend.close();
    }
  });

  test('a changed host key is refused naming both fingerprints', async () => {
    const [, other] = newKey();
    const [type, base64] = keyParts(other);
    const knownHosts = path.join(testdir(), 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${server.port} ${type} ${base64}\n`);
    const backend = openSftpBinhost(optionsFor(server, { knownHosts }));
    await assert.rejects(
      backend.get('x'),
      isBinhostError('BUILDIT_BINHOST_HOSTKEY_CHANGED', (error) => {
        assert.equal(error.transient, false);
        assert.ok(error.message.includes(server.hostKeyFingerprint), error.message);
        assert.ok(error.message.includes(fingerprint(Buffer.from(base64, 'base64'))), error.message);
      }),
    );
    await backend.close();
  });

  test('a hashed known_hosts entry (ssh-keygen -H) is accepted', async () => {
    const knownHosts = path.join(testdir(), 'known_hosts');
    writeFileSync(knownHosts, readFileSync(server.knownHostsFile));
    execFileSync('ssh-keygen', ['-H', '-f', knownHosts], { stdio: 'ignore' });
    const text = readFileSync(knownHosts, 'utf8');
    assert.match(text, /^\|1\|/, 'the entry was hashed');
    assert.ok(!text.includes('127.0.0.1'));
    const backend = openSftpBinhost(optionsFor(server, { knownHosts }));
    assert.equal(await backend.has('nothing-here'), false);
    await backend.close();
  });

  test('a user key the server does not accept → DENIED, not retried', async () => {
    const [wrongKey] = newKey();
    let attempts = 0;
    const backend = withRetry(openSftpBinhost(optionsFor(server, { identityFile: wrongKey })), {
      baseMs: 1,
      onRetry: () => attempts++,
    });
    await assert.rejects(
      backend.has('x'),
      isBinhostError('BUILDIT_BINHOST_DENIED', (error) => assert.equal(error.transient, false)),
    );
    assert.equal(attempts, 0);
    await backend.close();
  });

  test('no key at all (no agent, no ~/.ssh keys) → DENIED before connecting', async () => {
    const options = optionsFor(server);
    delete options.identityFile;
    const backend = openSftpBinhost(options);
    await assert.rejects(
      backend.has('x'),
      isBinhostError('BUILDIT_BINHOST_DENIED', (error) => assert.match(error.message, /no SSH key/)),
    );
  });

  test('the default key ~/.ssh/id_ed25519 (from env.HOME) is used', async () => {
    const home = testdir({ '.ssh/id_ed25519': readFileSync(server.identityFile, 'utf8') });
    const options = optionsFor(server, { env: { HOME: home } });
    delete options.identityFile;
    const backend = openSftpBinhost(options);
    assert.equal(await backend.has('x'), false);
    await backend.close();
  });

  test('a relative path resolves against the login folder', async () => {
    const login = os.userInfo().homedir;
    const relative = path.relative(login, server.root);
    const backend = openSftpBinhost(optionsFor(server, { path: relative, absolute: false }));
    await backend.put('rel/check', () => Readable.from([Buffer.from('here')]));
    assert.equal(readFileSync(path.join(server.root, 'rel/check'), 'utf8'), 'here');
    await backend.close();
  });

  test('concurrent calls share one connection; a broken one is replaced on the next call', async () => {
    // A TCP relay in front of sshd, to count connections and cut them.
    const sockets = new Set<net.Socket>();
    let connections = 0;
    const relay = net.createServer((client) => {
      connections++;
      const upstream = net.connect(server.port, '127.0.0.1');
      sockets.add(client).add(upstream);
      client.pipe(upstream).pipe(client);
      const end = (): void => {
        client.destroy();
        upstream.destroy();
      };
      client.on('error', end).on('close', end);
      upstream.on('error', end).on('close', end);
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const port = (relay.address() as net.AddressInfo).port;
    // The relay's port is another known_hosts name: the same key under it.
    const [type, base64] = keyParts(
      readFileSync(server.knownHostsFile, 'utf8').split(' ').slice(1).join(' '),
    );
    const knownHosts = path.join(testdir(), 'known_hosts');
    writeFileSync(knownHosts, `[127.0.0.1]:${port} ${type} ${base64}\n`);
    const backend = openSftpBinhost(optionsFor(server, { port, knownHosts }));
    try {
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => backend.has(`c/${i}`)));
      assert.deepEqual(answers, Array(8).fill(false));
      assert.equal(connections, 1);

      for (const socket of sockets) socket.destroy();
      sockets.clear();
      // The first call after the break may fail (transient) or already reconnect; the next one works.
      const next = await backend.has('c/0').catch((error: unknown) => error);
      if (next !== false) {
        assert.ok(next instanceof BinhostError && next.transient, String(next));
        assert.equal(next.code, 'BUILDIT_BINHOST_UNREACHABLE');
      }
      await backend.put('c/after', () => Readable.from([Buffer.from('ok')]));
      assert.equal(readFileSync(path.join(server.root, 'c/after'), 'utf8'), 'ok');
      assert.equal(connections, 2);
    } finally {
      await backend.close();
      relay.close();
      for (const socket of sockets) socket.destroy();
    }
  });
});

describe('sftp: sshd killed during an upload', () => {
  // 'busy': writes are in flight when sshd dies; 'idle': none are (the body
  // paused), so the next write goes to a closed channel, which ssh2 drops silently.
  for (const moment of ['busy', 'idle'] as const) {
    test(`(${moment}) the put fails, nothing is at the final name, and a new server on the same folder takes the put`, async () => {
      const first = await startSshd();
      let second: SshdServer | undefined;
      try {
        const root = first.root;
        const data = randomBytes(24 * 1024 * 1024);
        const backend = openSftpBinhost(optionsFor(first, { timeoutMs: 5000 }));
        let sent = 0;
        const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
        const body = (): Readable =>
          Readable.from(
            (async function* () {
              for (let at = 0; at < data.length; at += 65536) {
                if (at === 4 * 1024 * 1024) {
                  if (moment === 'idle') await pause(300);
                  first.kill();
                  await pause(moment === 'idle' ? 300 : 50);
                }
                sent += 65536;
                yield data.subarray(at, at + 65536);
              }
            })(),
          );
        await assert.rejects(
          backend.put('blobs/sha256/ff/big', body),
          isBinhostError('BUILDIT_BINHOST_UNREACHABLE', (error) => assert.equal(error.transient, true)),
        );
        assert.ok(sent < data.length, 'the put failed before the whole body was sent');
        assert.equal(existsSync(path.join(root, 'blobs/sha256/ff/big')), false);
        // Only a temp name may stay behind (its cleanup needed the connection that died).
        for (const name of readdirSync(path.join(root, 'blobs/sha256/ff'))) assert.match(name, /^\.tmp-big-/);

        // The same backend, server gone: a transient failure, not a hang.
        await assert.rejects(
          backend.has('x'),
          isBinhostError('BUILDIT_BINHOST_UNREACHABLE', (error) => assert.equal(error.transient, true)),
        );
        await backend.close();

        second = await startSshd();
        const again = openSftpBinhost(optionsFor(second, { path: root }));
        await again.put('blobs/sha256/ff/big', () => Readable.from([data]));
        assert.ok(readFileSync(path.join(root, 'blobs/sha256/ff/big')).equals(data));
        await again.close();
      } finally {
        await second?.stop();
        await first.stop();
      }
    });
  }
});
