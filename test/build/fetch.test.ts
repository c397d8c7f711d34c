import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { fetchDistfile } from '../../src/build/fetch.ts';
import { BuilditError } from '../../src/errors.ts';
import { LocalStore } from '../../src/store/store.ts';
import { redactUrl, redactUrlsIn } from '../../src/util/redact.ts';
import { testdir } from '../helpers/testdir.ts';

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

type Handler = (req: IncomingMessage, res: ServerResponse, hit: number) => void;

/** A real HTTP server on loopback; `hits` counts requests per path. */
async function serve(
  handler: Handler,
): Promise<{ base: string; hits: Map<string, number>; close: () => Promise<void> }> {
  const hits = new Map<string, number>();
  const server = createServer((req, res) => {
    const n = (hits.get(req.url ?? '') ?? 0) + 1;
    hits.set(req.url ?? '', n);
    handler(req, res, n);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}`,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const BODY = Buffer.from('distfile bytes '.repeat(4096));
const FAST = { backoffMs: 5 };

function storeIn(): LocalStore {
  return new LocalStore(testdir());
}

async function rejectsWith(promise: Promise<unknown>, code: string): Promise<BuilditError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof BuilditError, `expected a BuilditError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return error;
  }
  assert.fail(`expected ${code}`);
}

test('downloads into the store, then serves it from the store without the network', async (t) => {
  const server = await serve((_req, res) => res.end(BODY));
  t.after(server.close);
  const store = storeIn();
  const url = `${server.base}/pkg-1.0.tar.gz`;
  const seen: string[] = [];
  const first = await fetchDistfile(store, url, sha(BODY), { onNetwork: (u) => seen.push(u) });
  assert.deepEqual(first, { hex: sha(BODY), size: BODY.length, cached: false });
  assert.ok(await store.verifyBlob(sha(BODY)));
  const second = await fetchDistfile(store, url, sha(BODY), { onNetwork: (u) => seen.push(u) });
  assert.deepEqual(second, { hex: sha(BODY), size: BODY.length, cached: true });
  assert.equal(server.hits.get('/pkg-1.0.tar.gz'), 1);
  assert.deepEqual(seen, [url]);
});

test('without a sha256 (trust on first use) the learned digest is returned', async (t) => {
  const server = await serve((_req, res) => res.end('a patch\n'));
  t.after(server.close);
  const got = await fetchDistfile(storeIn(), `${server.base}/fix.patch`, undefined);
  assert.equal(got.hex, sha('a patch\n'));
  assert.equal(got.cached, false);
});

test('a sha256 mismatch names both digests, stores nothing and is not retried', async (t) => {
  const server = await serve((_req, res) => res.end('tampered'));
  t.after(server.close);
  const store = storeIn();
  const pinned = sha('the real thing');
  const error = await rejectsWith(
    fetchDistfile(store, `${server.base}/x.tar.gz`, pinned, FAST),
    'BUILDIT_FETCH_SHA256',
  );
  assert.equal(error.exitCode, 1);
  assert.match(error.message, new RegExp(pinned));
  assert.match(error.message, new RegExp(sha('tampered')));
  assert.match(error.message, /127\.0\.0\.1:\d+\/x\.tar\.gz/);
  assert.equal(await store.hasBlob(pinned), false);
  assert.equal(await store.hasBlob(sha('tampered')), false);
  assert.deepEqual(await readdir(path.join(store.root, 'tmp')), []);
  assert.equal(server.hits.get('/x.tar.gz'), 1);
});

test('HTTP 404 fails at once (no retry) naming the URL and the status', async (t) => {
  const server = await serve((_req, res) => {
    res.statusCode = 404;
    res.end('not here');
  });
  t.after(server.close);
  const url = `${server.base}/gone.tar.gz`;
  const error = await rejectsWith(fetchDistfile(storeIn(), url, sha('x'), FAST), 'BUILDIT_FETCH_HTTP');
  assert.equal(error.exitCode, 1);
  assert.ok(error.message.includes(url), error.message);
  assert.match(error.message, /HTTP 404 Not Found/);
  assert.ok(error.hint);
  assert.equal(server.hits.get('/gone.tar.gz'), 1);
});

test('HTTP 500 is retried with backoff; a 200 after it succeeds', async (t) => {
  const server = await serve((_req, res, hit) => {
    if (hit === 1) {
      res.statusCode = 500;
      res.end('oops');
    } else res.end(BODY);
  });
  t.after(server.close);
  const got = await fetchDistfile(storeIn(), `${server.base}/flaky`, sha(BODY), FAST);
  assert.equal(got.hex, sha(BODY));
  assert.equal(server.hits.get('/flaky'), 2);
});

test('a server that keeps failing: 3 attempts by default, then BUILDIT_FETCH_HTTP', async (t) => {
  const server = await serve((_req, res) => {
    res.statusCode = 503;
    res.end();
  });
  t.after(server.close);
  const error = await rejectsWith(
    fetchDistfile(storeIn(), `${server.base}/down`, sha('x'), FAST),
    'BUILDIT_FETCH_HTTP',
  );
  assert.match(error.message, /HTTP 503 Service Unavailable \(3 attempts\)/);
  assert.equal(server.hits.get('/down'), 3);

  const once = await serve((_req, res) => {
    res.statusCode = 502;
    res.end();
  });
  t.after(once.close);
  await rejectsWith(
    fetchDistfile(storeIn(), `${once.base}/down`, sha('x'), { ...FAST, retries: 0 }),
    'BUILDIT_FETCH_HTTP',
  );
  assert.equal(once.hits.get('/down'), 1);
});

test('a connection dropped mid-body is retried, and the partial bytes never reach the store', async (t) => {
  const server = await serve((_req, res, hit) => {
    res.setHeader('content-length', BODY.length);
    if (hit === 1) {
      res.write(BODY.subarray(0, 1000));
      setTimeout(() => res.socket?.destroy(), 20);
    } else res.end(BODY);
  });
  t.after(server.close);
  const store = storeIn();
  const got = await fetchDistfile(store, `${server.base}/big`, undefined, FAST);
  assert.equal(got.hex, sha(BODY));
  assert.equal(got.size, BODY.length);
  assert.equal(server.hits.get('/big'), 2);
  assert.equal(await store.hasBlob(sha(BODY.subarray(0, 1000))), false);
  assert.deepEqual(await readdir(path.join(store.root, 'tmp')), []);
});

test('a body that stops flowing hits the idle timeout: BUILDIT_FETCH_NETWORK', async (t) => {
  const server = await serve((_req, res) => {
    res.setHeader('content-length', BODY.length);
    res.write(BODY.subarray(0, 10)); // and then nothing
  });
  t.after(server.close);
  const store = storeIn();
  const error = await rejectsWith(
    fetchDistfile(store, `${server.base}/stall`, undefined, { ...FAST, idleTimeoutMs: 150, retries: 1 }),
    'BUILDIT_FETCH_NETWORK',
  );
  assert.match(error.message, /no data for 0\.15 s \(2 attempts\)/);
  assert.equal(server.hits.get('/stall'), 2);
  assert.deepEqual(await readdir(path.join(store.root, 'tmp')), []);
});

test('a refused connection is a network failure naming the URL', async (t) => {
  const server = await serve((_req, res) => res.end());
  await server.close();
  t.after(() => undefined);
  const error = await rejectsWith(
    fetchDistfile(storeIn(), `${server.base}/x`, sha('x'), { ...FAST, retries: 1 }),
    'BUILDIT_FETCH_NETWORK',
  );
  assert.match(error.message, /cannot download http:\/\/127\.0\.0\.1:\d+\/x: .*ECONNREFUSED.*\(2 attempts\)/);
});

test('an aborted signal stops at once and is not retried', async (t) => {
  const server = await serve(() => undefined); // never answers
  t.after(server.close);
  const controller = new AbortController();
  setTimeout(() => controller.abort(new Error('user cancelled')), 50);
  await assert.rejects(
    fetchDistfile(storeIn(), `${server.base}/slow`, undefined, { ...FAST, signal: controller.signal }),
    /user cancelled/,
  );
  assert.equal(server.hits.get('/slow'), 1);
});

test('file:// URLs are read from disk (streamed); a missing file is BUILDIT_FETCH_FILE', async () => {
  const dir = testdir();
  const file = path.join(dir, 'local.tar');
  await writeFile(file, BODY);
  const store = storeIn();
  const got = await fetchDistfile(store, pathToFileURL(file).href, sha(BODY));
  assert.deepEqual(got, { hex: sha(BODY), size: BODY.length, cached: false });
  assert.ok(await store.hasBlob(sha(BODY)));
  const error = await rejectsWith(
    fetchDistfile(store, pathToFileURL(path.join(dir, 'nope.tar')).href, undefined),
    'BUILDIT_FETCH_FILE',
  );
  assert.equal(error.exitCode, 1);
  assert.match(error.message, /nope\.tar: .*ENOENT/);
  assert.deepEqual(await readdir(path.join(store.root, 'tmp')), []);
});

test('an unknown scheme is an input error (exit 2); so is a malformed sha256', async () => {
  const store = storeIn();
  const scheme = await rejectsWith(
    fetchDistfile(store, 'ftp://ftp.example.org/pub/x.tar.gz', sha('x')),
    'BUILDIT_FETCH_SCHEME',
  );
  assert.equal(scheme.exitCode, 2);
  assert.match(scheme.message, /ftp:/);
  const digest = await rejectsWith(
    fetchDistfile(store, 'https://example.org/x', '../../etc/passwd'),
    'BUILDIT_FETCH_DIGEST',
  );
  assert.equal(digest.exitCode, 2);
});

test('credentials are sent as Basic auth and never appear in messages', async (t) => {
  const server = await serve((req, res) => {
    if (req.headers.authorization !== `Basic ${Buffer.from('alice:hunter2').toString('base64')}`) {
      res.statusCode = 401;
      res.end();
    } else if (req.url?.startsWith('/ok')) res.end(BODY);
    else {
      res.statusCode = 404;
      res.end();
    }
  });
  t.after(server.close);
  const port = new URL(server.base).port;
  const store = storeIn();
  const ok = await fetchDistfile(store, `http://alice:hunter2@127.0.0.1:${port}/ok`, sha(BODY));
  assert.equal(ok.hex, sha(BODY));

  const secretUrl = `http://alice:hunter2@127.0.0.1:${port}/missing?token=abc123&v=2`;
  const notFound = await rejectsWith(fetchDistfile(store, secretUrl, sha('x'), FAST), 'BUILDIT_FETCH_HTTP');
  const mismatch = await rejectsWith(
    fetchDistfile(store, `http://alice:hunter2@127.0.0.1:${port}/ok?sig=abc123`, sha('x'), FAST),
    'BUILDIT_FETCH_SHA256',
  );
  const refused = await rejectsWith(
    fetchDistfile(store, 'http://alice:hunter2@127.0.0.1:1/x?password=abc123', sha('x'), {
      ...FAST,
      retries: 0,
    }),
    'BUILDIT_FETCH_NETWORK',
  );
  const scheme = await rejectsWith(
    fetchDistfile(store, 'ftp://alice:hunter2@h/x', undefined),
    'BUILDIT_FETCH_SCHEME',
  );
  for (const error of [notFound, mismatch, refused, scheme]) {
    const text = `${error.message}\n${error.hint ?? ''}`;
    assert.ok(!text.includes('hunter2') && !text.includes('abc123') && !text.includes('alice'), text);
    assert.match(text, /\*\*\*@/);
  }
  assert.match(notFound.message, /\/missing\?token=\*\*\*&v=2/);
});

test('redactUrl hides user info and secret query parameters, and keeps the rest as written', () => {
  const cases: [string, string][] = [
    ['https://example.org/a.tar.gz', 'https://example.org/a.tar.gz'],
    ['https://user:pw@example.org/a', 'https://***@example.org/a'],
    ['https://token@example.org/a', 'https://***@example.org/a'],
    ['https://u:p@ss@example.org/a@b', 'https://***@example.org/a@b'],
    ['https://h/a?token=1&x=2&Signature=3#frag', 'https://h/a?token=***&x=2&Signature=***#frag'],
    ['https://h/a?X-Amz-Signature=9&key=k&keys=v', 'https://h/a?X-Amz-Signature=***&key=***&keys=v'],
    ['https://h/a?password', 'https://h/a?password'],
    ['file:///tmp/x.tar', 'file:///tmp/x.tar'],
    ['not a url', 'not a url'],
  ];
  for (const [input, expected] of cases) assert.equal(redactUrl(input), expected, input);
  assert.equal(
    redactUrlsIn('GET https://a:b@h/x?sig=1 failed, see http://h/y'),
    'GET https://***@h/x?sig=*** failed, see http://h/y',
  );
});
