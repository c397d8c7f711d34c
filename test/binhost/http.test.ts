/**
 * The HTTP(S) backend's failures, against nginx over TLS and a fault proxy in
 * front of it, plus small loopback servers for what neither does (stalls,
 * short bodies, recording the request headers).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { inspect } from 'node:util';
import { openHttpBinhost } from '../../src/binhost/http.ts';
import { withRetry } from '../../src/binhost/retry.ts';
import { BinhostError, type BinhostBackend } from '../../src/binhost/types.ts';
import { startFaultProxy, startNginx, type FaultProxy, type NginxServer } from '../helpers/servers.ts';
import { testdir } from '../helpers/testdir.ts';

const SECRET = 's3cr3t-t0ken';

async function bytes(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function isBinhostError(code: string, check?: (error: BinhostError) => void): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof BinhostError, String(error));
    assert.equal(error.code, code, error.message);
    check?.(error);
    return true;
  };
}

/** Nothing of the secret in the message, the hint, or anything inspect shows (causes included). */
function noSecret(error: BinhostError): void {
  for (const shown of [error.message, error.hint ?? '', inspect(error, { depth: 10 })]) {
    assert.ok(!shown.includes(SECRET), shown);
  }
}

/** A loopback HTTP server running `handler`; records each request. */
async function serve(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ url: string; seen: http.IncomingMessage[]; close(): Promise<void> }> {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on (it was free a moment ago). */
async function closedPort(): Promise<number> {
  const s = await serve(() => {});
  const port = Number(new URL(s.url).port);
  await s.close();
  return port;
}

describe('http through a fault proxy in front of nginx', () => {
  let root: string;
  let nginx: NginxServer;
  let proxy: FaultProxy;
  let backend: BinhostBackend;
  let retries: number;
  const blob = randomBytes(300 * 1024);

  before(async () => {
    root = testdir();
    mkdirSync(path.join(root, 'blobs'), { recursive: true });
    writeFileSync(path.join(root, 'blobs/one'), blob);
    nginx = await startNginx(root);
    proxy = await startFaultProxy(nginx.url, nginx.caFile);
    backend = withRetry(openHttpBinhost({ url: proxy.url }), { baseMs: 1, onRetry: () => retries++ });
  });
  after(async () => {
    await backend?.close();
    await proxy?.stop();
    await nginx?.stop();
  });

  /** `proxy.requests` made by `work`, and how many retries withRetry reported. */
  async function counting<T>(
    work: () => Promise<T>,
  ): Promise<{ result: T | unknown; requests: number; retried: number }> {
    const before = proxy.requests;
    retries = 0;
    const result = await work().catch((error: unknown) => error);
    return { result, requests: proxy.requests - before, retried: retries };
  }

  test('a 500, then success: retried once', async () => {
    proxy.failNext(1, 500);
    const { result, requests, retried } = await counting(async () =>
      bytes((await backend.get('blobs/one'))!),
    );
    assert.ok(Buffer.isBuffer(result) && result.equals(blob), String(result));
    assert.equal(requests, 2);
    assert.equal(retried, 1);
  });

  test('has: a 503, then success', async () => {
    proxy.failNext(1, 503);
    const { result, requests } = await counting(() => backend.has('blobs/one'));
    assert.equal(result, true);
    assert.equal(requests, 2);
  });

  test('5xx every time: given up after 3 attempts, transient', async () => {
    proxy.failNext(3, 502);
    const { result, requests, retried } = await counting(() => backend.has('blobs/one'));
    assert.ok(isBinhostError('BUILDIT_BINHOST_HTTP', (e) => assert.equal(e.transient, true))(result));
    assert.equal(requests, 3);
    assert.equal(retried, 2);
  });

  test('404 is absent, and not retried', async () => {
    const got = await counting(() => backend.get('blobs/missing'));
    assert.equal(got.result, undefined);
    assert.equal(got.requests, 1);
    const has = await counting(() => backend.has('blobs/missing'));
    assert.equal(has.result, false);
    assert.equal(has.requests, 1);
  });

  test('410 is absent too', async () => {
    proxy.failNext(1, 410);
    const { result, requests } = await counting(() => backend.get('blobs/one'));
    assert.equal(result, undefined);
    assert.equal(requests, 1);
  });

  test('403 is DENIED and not retried', async () => {
    proxy.failNext(1, 403);
    const { result, requests } = await counting(() => backend.get('blobs/one'));
    assert.ok(isBinhostError('BUILDIT_BINHOST_DENIED', (e) => assert.equal(e.transient, false))(result));
    assert.equal(requests, 1);
  });

  test('429 and 408 are transient', async () => {
    for (const status of [429, 408]) {
      proxy.failNext(1, status);
      const { result, requests } = await counting(() => backend.has('blobs/one'));
      assert.equal(result, true, `${status}`);
      assert.equal(requests, 2);
    }
  });

  test('another 4xx is an error, not retried', async () => {
    proxy.failNext(1, 400);
    const { result, requests } = await counting(() => backend.has('blobs/one'));
    assert.ok(isBinhostError('BUILDIT_BINHOST_HTTP', (e) => assert.equal(e.transient, false))(result));
    assert.equal(requests, 1);
  });

  test('a connection reset in the middle of the body is an error on the stream', async () => {
    proxy.resetNext(1);
    const stream = await backend.get('blobs/one');
    assert.ok(stream);
    await assert.rejects(
      bytes(stream),
      isBinhostError('BUILDIT_BINHOST_TRUNCATED', (e) => assert.equal(e.transient, true)),
    );
    // The next request gets a fresh connection and the whole body.
    assert.ok((await bytes((await backend.get('blobs/one'))!)).equals(blob));
  });

  test('bad paths never reach the server', async () => {
    const { result, requests } = await counting(() => backend.get('../etc/passwd'));
    assert.ok(isBinhostError('BUILDIT_BINHOST_PATH')(result));
    assert.equal(requests, 0);
  });

  test('names are percent-encoded', async () => {
    writeFileSync(path.join(root, 'blobs/a b#c?d'), 'odd');
    assert.equal((await bytes((await backend.get('blobs/a b#c?d'))!)).toString(), 'odd');
  });
});

describe('http: unreachable servers and TLS', () => {
  let nginx: NginxServer;

  before(async () => {
    nginx = await startNginx(testdir({ 'present.json': '{}' }));
  });
  after(async () => {
    await nginx?.stop();
  });

  test('with the CA file: served', async () => {
    const backend = openHttpBinhost({ url: nginx.url, caFile: nginx.caFile });
    assert.equal(await backend.has('present.json'), true);
    await backend.close();
  });

  test('without the CA: BUILDIT_BINHOST_TLS, not transient, with a hint; no secret shown', async () => {
    let retried = 0;
    const url = nginx.url.replace('https://', `https://builder:${SECRET}@`);
    const backend = withRetry(openHttpBinhost({ url }), { baseMs: 1, onRetry: () => retried++ });
    assert.ok(!backend.describe.includes(SECRET));
    await assert.rejects(
      backend.get('present.json'),
      isBinhostError('BUILDIT_BINHOST_TLS', (error) => {
        assert.equal(error.transient, false);
        assert.match(error.hint ?? '', /ca-file/);
        assert.match(error.hint ?? '', /NODE_EXTRA_CA_CERTS/);
        noSecret(error);
      }),
    );
    assert.equal(retried, 0);
    await backend.close();
  });

  test('a server that is gone: UNREACHABLE, transient, retried; no secret shown', async () => {
    const port = await closedPort();
    let retried = 0;
    const backend = withRetry(openHttpBinhost({ url: `http://builder:${SECRET}@127.0.0.1:${port}/b/` }), {
      baseMs: 1,
      onRetry: () => retried++,
    });
    await assert.rejects(
      backend.has('x'),
      isBinhostError('BUILDIT_BINHOST_UNREACHABLE', (error) => {
        assert.equal(error.transient, true);
        noSecret(error);
      }),
    );
    assert.equal(retried, 2);
    await backend.close();
  });

  test('a stopped server behind the proxy: the proxy answers 502, transient', async () => {
    const other = await startNginx(testdir());
    const proxy = await startFaultProxy(other.url, other.caFile);
    await other.stop();
    const backend = openHttpBinhost({ url: proxy.url });
    await assert.rejects(
      backend.has('x'),
      isBinhostError('BUILDIT_BINHOST_HTTP', (e) => assert.equal(e.transient, true)),
    );
    await backend.close();
    await proxy.stop();
  });

  test('an unreadable CA file is a configuration error', async () => {
    const backend = openHttpBinhost({ url: nginx.url, caFile: '/nonexistent/ca.pem' });
    await assert.rejects(
      backend.has('present.json'),
      isBinhostError('BUILDIT_BINHOST_CA_FILE', (e) => assert.equal(e.exitCode, 2)),
    );
  });
});

describe('http: what goes over the wire', () => {
  test('credentials become Basic auth, a base query goes along, identity encoding, HEAD for has; never in messages', async () => {
    const server = await serve((req, res) => {
      if (req.url?.startsWith('/base/denied')) res.writeHead(401).end();
      else if (req.url?.startsWith('/base/boom')) res.writeHead(500).end();
      else res.writeHead(200, { 'content-length': '2' }).end(req.method === 'HEAD' ? undefined : 'ok');
    });
    const url =
      server.url.replace('http://', `http://builder:${encodeURIComponent(`${SECRET}@:/`)}@`) +
      `base?token=${SECRET}`;
    const backend = openHttpBinhost({ url });
    try {
      assert.equal((await bytes((await backend.get('f'))!)).toString(), 'ok');
      assert.equal(await backend.has('f'), true);
      const [get, head] = server.seen;
      assert.equal(get?.method, 'GET');
      assert.equal(get?.url, `/base/f?token=${SECRET}`);
      assert.equal(head?.method, 'HEAD');
      const expected = `Basic ${Buffer.from(`builder:${SECRET}@:/`).toString('base64')}`;
      assert.equal(get?.headers.authorization, expected);
      assert.equal(head?.headers.authorization, expected);
      assert.equal(get?.headers['accept-encoding'], 'identity');
      await assert.rejects(
        backend.get('denied'),
        isBinhostError('BUILDIT_BINHOST_DENIED', (e) => {
          assert.equal(e.transient, false);
          noSecret(e);
        }),
      );
      await assert.rejects(backend.get('boom'), isBinhostError('BUILDIT_BINHOST_HTTP', noSecret));
      assert.ok(!backend.describe.includes(SECRET));
    } finally {
      await backend.close();
      await server.close();
    }
  });

  test('a body shorter than its Content-Length is an error on the stream', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': '1000' });
      res.write(Buffer.alloc(400));
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const backend = openHttpBinhost({ url: server.url });
    try {
      const stream = await backend.get('short');
      assert.ok(stream);
      await assert.rejects(bytes(stream), isBinhostError('BUILDIT_BINHOST_TRUNCATED'));
    } finally {
      await backend.close();
      await server.close();
    }
  });

  test('a server that stops sending: the idle timeout fails it, transient', async () => {
    const server = await serve((req, res) => {
      if (req.url === '/headers-only') {
        res.writeHead(200, { 'content-length': '10' });
        res.write('12345');
      }
      // else: never answer
    });
    const backend = openHttpBinhost({ url: server.url, timeoutMs: 200 });
    try {
      await assert.rejects(
        backend.has('silent'),
        isBinhostError('BUILDIT_BINHOST_UNREACHABLE', (e) => assert.equal(e.transient, true)),
      );
      const stream = await backend.get('headers-only');
      assert.ok(stream);
      await assert.rejects(
        bytes(stream),
        (error: unknown) => error instanceof BinhostError && error.transient,
      );
    } finally {
      await backend.close();
      await server.close();
    }
  });

  test('redirects: followed on the same scheme; credentials stay on their origin', async () => {
    const elsewhere = await serve((_req, res) => res.writeHead(200, { 'content-length': '5' }).end('moved'));
    const server = await serve((req, res) => {
      if (req.url === '/b/local') res.writeHead(302, { location: '/b/target' }).end();
      else if (req.url === '/b/away') res.writeHead(301, { location: `${elsewhere.url}x` }).end();
      else if (req.url === '/b/tls') res.writeHead(302, { location: 'https://127.0.0.1:9/x' }).end();
      else res.writeHead(200, { 'content-length': '2' }).end('ok');
    });
    const backend = openHttpBinhost({ url: server.url.replace('http://', `http://u:${SECRET}@`) + 'b/' });
    try {
      assert.equal((await bytes((await backend.get('local'))!)).toString(), 'ok');
      assert.ok(server.seen.at(-1)?.headers.authorization);
      assert.equal((await bytes((await backend.get('away'))!)).toString(), 'moved');
      assert.equal(elsewhere.seen.at(-1)?.headers.authorization, undefined);
      await assert.rejects(backend.get('tls'), isBinhostError('BUILDIT_BINHOST_HTTP', noSecret));
    } finally {
      await backend.close();
      await server.close();
      await elsewhere.close();
    }
  });

  test('an abort signal stops a request, and is not retried', async () => {
    const server = await serve(() => {});
    let retried = 0;
    const backend = withRetry(openHttpBinhost({ url: server.url }), { baseMs: 1, onRetry: () => retried++ });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('stop now')), 50);
    try {
      await assert.rejects(backend.get('x', controller.signal), /stop now/);
      assert.equal(retried, 0);
    } finally {
      await backend.close();
      await server.close();
    }
  });
});
