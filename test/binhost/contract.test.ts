/**
 * One contract, every backend (STYLE "Tests"): the same tests run against the
 * local folder, HTTPS (nginx serving a folder that a file backend writes
 * into: puts go file → nginx) and SFTP (OpenSSH sshd). All on loopback.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { openFileBinhost } from '../../src/binhost/file.ts';
import { openHttpBinhost } from '../../src/binhost/http.ts';
import { openBinhost } from '../../src/binhost/open.ts';
import { withRetry } from '../../src/binhost/retry.ts';
import { openSftpBinhost } from '../../src/binhost/sftp.ts';
import { BinhostError, type BinhostBackend } from '../../src/binhost/types.ts';
import { startNginx, startSshd } from '../helpers/servers.ts';
import { testdir } from '../helpers/testdir.ts';

interface Subject {
  /** The backend under test. */
  backend: BinhostBackend;
  /** Where puts go: the backend itself, or a writable companion for a read-only one. */
  writer: BinhostBackend;
  /** The binhost's folder on this machine, to look for leftovers. */
  root: string;
  cleanup(): Promise<void>;
}

async function text(stream: Readable | undefined): Promise<string | undefined> {
  return stream === undefined ? undefined : (await bytes(stream)).toString('utf8');
}

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** Every file name under `dir`, relative. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory()
      ? walk(path.join(dir, entry.name), `${prefix}${entry.name}/`)
      : [`${prefix}${entry.name}`],
  );
}

/** A body that yields `data` in 64 KiB chunks, with a pause now and then so a put takes a while. */
function slowBody(data: Buffer): Readable {
  return Readable.from(
    (async function* () {
      for (let at = 0; at < data.length; at += 65536) {
        if (at % (8 * 65536) === 0) await new Promise((resolve) => setTimeout(resolve, 5));
        yield data.subarray(at, at + 65536);
      }
    })(),
  );
}

const BAD_PATHS = ['', '/abs/olute', 'a/../b', '..', '../up', 'a//b', 'a/./b', 'a/', './a', 'a\\b', 'a\0b'];

function contract(name: string, make: () => Promise<Subject>): void {
  describe(`binhost contract: ${name}`, () => {
    let s: Subject;
    // Each test writes under its own prefix: the suite shares one server.
    const fresh = (): string => `t-${randomBytes(4).toString('hex')}`;

    before(async () => {
      s = await make();
    });
    after(async () => {
      await s?.cleanup();
    });

    test('describe says where it is', () => {
      assert.ok(s.backend.describe.length > 0);
    });

    test('put then get returns the bytes', async () => {
      const p = `${fresh()}/buildit-binhost.json`;
      let calls = 0;
      await s.writer.put(p, () => {
        calls++;
        return Readable.from([Buffer.from('{"schema":"buildit-binhost/v1"}')]);
      });
      assert.equal(calls, 1, 'body() is called once per attempt');
      assert.equal(await text(await s.backend.get(p)), '{"schema":"buildit-binhost/v1"}');
    });

    test('has: true for a file, false for an absent one or a folder', async () => {
      const dir = fresh();
      await s.writer.put(`${dir}/a/present`, () => Readable.from([Buffer.from('x')]));
      assert.equal(await s.backend.has(`${dir}/a/present`), true);
      assert.equal(await s.backend.has(`${dir}/a/absent`), false);
      assert.equal(await s.backend.has(`${dir}/no/such/folder/file`), false);
      assert.equal(await s.backend.has(`${dir}/a`), false);
    });

    test('a missing path is undefined, not an error', async () => {
      const dir = fresh();
      assert.equal(await s.backend.get(`${dir}/missing`), undefined);
      assert.equal(await s.backend.get(`${dir}/deeper/still/missing.json`), undefined);
    });

    test('an empty file is there, with no bytes', async () => {
      const p = `${fresh()}/empty`;
      await s.writer.put(p, () => Readable.from([]));
      assert.equal(await s.backend.has(p), true);
      assert.equal(await text(await s.backend.get(p)), '');
    });

    test('nested folders are created', async () => {
      const dir = fresh();
      const p = `${dir}/packages/linux-amd64/ab/abcdef.json`;
      await s.writer.put(p, () => Readable.from([Buffer.from('{}')]));
      assert.equal(readFileSync(path.join(s.root, p), 'utf8'), '{}');
      assert.equal(await text(await s.backend.get(p)), '{}');
    });

    test('put overwrites atomically: readers see old or new, never part; no temp files stay', async () => {
      const dir = fresh();
      const p = `${dir}/blobs/sha256/aa/blob`;
      const old = randomBytes(256 * 1024);
      const next = randomBytes(2 * 1024 * 1024);
      await s.writer.put(p, () => Readable.from([old]));
      const seen = new Set<string>();
      let writing = true;
      const reader = (async () => {
        while (writing) {
          const got = await s.backend.get(p);
          assert.ok(got, 'the file never disappears');
          const digest = sha256(await bytes(got));
          assert.ok(digest === sha256(old) || digest === sha256(next), 'a read saw a partial file');
          seen.add(digest);
        }
      })();
      try {
        await s.writer.put(p, () => slowBody(next));
      } finally {
        writing = false;
        await reader;
      }
      assert.ok(seen.has(sha256(old)), 'the reader ran during the put');
      assert.equal(sha256(await bytes((await s.backend.get(p))!)), sha256(next));
      assert.deepEqual(walk(path.join(s.root, dir)), ['blobs/sha256/aa/blob']);
    });

    test('a failing body leaves nothing behind and is the error put rejects with', async () => {
      if (!s.writer.writable) return;
      const dir = fresh();
      const p = `${dir}/sub/broken`;
      const boom = new Error('the local file went away');
      await assert.rejects(
        s.writer.put(p, () =>
          Readable.from(
            (async function* () {
              yield Buffer.alloc(100_000, 1);
              throw boom;
            })(),
          ),
        ),
        (error) => error === boom,
      );
      assert.equal(await s.backend.has(p), false);
      assert.deepEqual(existsSync(path.join(s.root, dir)) ? walk(path.join(s.root, dir)) : [], []);
    });

    test('bad paths are refused, never transient', async () => {
      for (const bad of BAD_PATHS) {
        const refused = (error: unknown): boolean => {
          assert.ok(error instanceof BinhostError, `${JSON.stringify(bad)}: ${String(error)}`);
          assert.equal(error.code, 'BUILDIT_BINHOST_PATH', JSON.stringify(bad));
          assert.equal(error.transient, false);
          return true;
        };
        await assert.rejects(s.backend.get(bad), refused);
        await assert.rejects(s.backend.has(bad), refused);
        await assert.rejects(
          s.writer.put(bad, () => Readable.from([Buffer.from('x')])),
          refused,
        );
      }
    });

    test('a 5 MiB blob streams through', async () => {
      const p = `${fresh()}/blobs/sha256/5m/blob`;
      const data = randomBytes(5 * 1024 * 1024);
      await s.writer.put(p, () => slowBody(data));
      const got = await s.backend.get(p);
      assert.ok(got);
      let chunks = 0;
      const hash = createHash('sha256');
      let size = 0;
      for await (const chunk of got) {
        chunks++;
        size += (chunk as Buffer).length;
        hash.update(chunk as Buffer);
      }
      assert.equal(size, data.length);
      assert.equal(hash.digest('hex'), sha256(data));
      assert.ok(chunks > 1, 'the body arrives in pieces, not as one buffer');
    });

    test('close() releases it, and may be called twice', async () => {
      await s.backend.close();
      await s.backend.close();
      // Using it again after close opens anew (lazy backends reconnect).
      assert.equal(await s.backend.has(`${fresh()}/x`), false);
    });
  });
}

contract('file', async () => {
  const root = testdir();
  const backend = openFileBinhost(root);
  return { backend, writer: backend, root, cleanup: () => backend.close() };
});

contract('file, through openBinhost (with retry)', async () => {
  const root = testdir();
  const backend = openBinhost({ kind: 'file', root }, { env: {} });
  return { backend, writer: backend, root, cleanup: () => backend.close() };
});

contract('https (nginx)', async () => {
  const root = testdir();
  const nginx = await startNginx(root);
  const backend = openHttpBinhost({ url: nginx.url, caFile: nginx.caFile });
  const writer = openFileBinhost(root);
  return {
    backend,
    writer,
    root,
    cleanup: async () => {
      await backend.close();
      await nginx.stop();
    },
  };
});

contract('sftp (OpenSSH)', async () => {
  const sshd = await startSshd();
  const backend = openSftpBinhost({
    host: sshd.host,
    port: sshd.port,
    user: sshd.user,
    path: sshd.root,
    absolute: true,
    identityFile: sshd.identityFile,
    knownHosts: sshd.knownHostsFile,
    env: { HOME: testdir() },
  });
  return {
    backend,
    writer: backend,
    root: sshd.root,
    cleanup: async () => {
      await backend.close();
      await sshd.stop();
    },
  };
});

describe('binhost contract: the HTTPS backend is read-only', () => {
  test('put is refused with a hint to configure an upload location', async () => {
    const backend = openHttpBinhost({ url: 'https://127.0.0.1:9/binhost/' });
    assert.equal(backend.writable, false);
    await assert.rejects(
      backend.put('a/b', () => Readable.from([])),
      (error: unknown) =>
        error instanceof BinhostError &&
        error.code === 'BUILDIT_BINHOST_READONLY' &&
        error.exitCode === 2 &&
        !error.transient &&
        /upload/.test(error.hint ?? ''),
    );
    await backend.close();
  });
});

describe('withRetry', () => {
  const transient = (): BinhostError =>
    new BinhostError('BUILDIT_BINHOST_HTTP', 'HTTP 503', { transient: true, hint: 'h' });
  const permanent = (): BinhostError =>
    new BinhostError('BUILDIT_BINHOST_DENIED', 'HTTP 403', { transient: false });

  /** A backend whose answers are scripted: each call takes the next one. */
  function scripted(answers: (unknown | Error)[]): {
    backend: BinhostBackend;
    calls: number;
    bodies: number;
  } {
    const state = { calls: 0, bodies: 0, backend: undefined as unknown as BinhostBackend };
    const next = async (): Promise<unknown> => {
      const answer = answers[state.calls++];
      if (answer instanceof Error) throw answer;
      return answer;
    };
    state.backend = {
      describe: 'scripted',
      writable: true,
      get: () => next() as Promise<Readable | undefined>,
      has: () => next() as Promise<boolean>,
      put: async (_path, body) => {
        body();
        state.bodies++;
        await next();
      },
      close: async () => {},
    };
    return state;
  }

  test('transient failures are retried, with the attempt number; the answer comes back', async () => {
    const s = scripted([transient(), transient(), true]);
    const seen: number[] = [];
    const backend = withRetry(s.backend, { baseMs: 1, onRetry: (_e, attempt) => seen.push(attempt) });
    assert.equal(await backend.has('x'), true);
    assert.equal(s.calls, 3);
    assert.deepEqual(seen, [1, 2]);
    assert.equal(backend.describe, 'scripted');
    assert.equal(backend.writable, true);
  });

  test('after the last attempt the failure says so, keeping its code and hint', async () => {
    const s = scripted([transient(), transient(), transient(), true]);
    await assert.rejects(
      withRetry(s.backend, { attempts: 3, baseMs: 1 }).get('x'),
      (error: unknown) =>
        error instanceof BinhostError &&
        error.code === 'BUILDIT_BINHOST_HTTP' &&
        error.transient &&
        error.hint === 'h' &&
        /\(3 attempts\)$/.test(error.message),
    );
    assert.equal(s.calls, 3);
  });

  test('absent, a permanent failure and a foreign error are not retried', async () => {
    const absent = scripted([undefined, 'never']);
    assert.equal(await withRetry(absent.backend, { baseMs: 1 }).get('x'), undefined);
    assert.equal(absent.calls, 1);
    const denied = scripted([permanent(), true]);
    await assert.rejects(withRetry(denied.backend, { baseMs: 1 }).has('x'), /HTTP 403/);
    assert.equal(denied.calls, 1);
    const foreign = scripted([new Error('disk full'), true]);
    await assert.rejects(withRetry(foreign.backend, { baseMs: 1 }).has('x'), /disk full/);
    assert.equal(foreign.calls, 1);
  });

  test('put calls body() once per attempt', async () => {
    const s = scripted([transient(), undefined]);
    await withRetry(s.backend, { baseMs: 1 }).put('x', () => Readable.from([]));
    assert.equal(s.bodies, 2);
  });

  test('an abort during the pause ends it with the abort reason', async () => {
    const s = scripted([transient(), true]);
    const controller = new AbortController();
    const reason = new Error('stop');
    setTimeout(() => controller.abort(reason), 20);
    await assert.rejects(
      withRetry(s.backend, { baseMs: 10_000 }).has('x', controller.signal),
      (e) => e === reason,
    );
    assert.equal(s.calls, 1);
  });
});
