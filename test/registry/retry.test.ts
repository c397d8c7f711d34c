/**
 * Pushes through a loopback proxy in front of docker-registry that breaks chosen requests once:
 * a transient failure (a 503, a dropped connection) is tried again and the push completes; a
 * refusal is not.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { writeOciLayout } from '../../src/image/oci.ts';
import { RegistryClient } from '../../src/registry/client.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { pushLayout } from '../../src/registry/push.ts';
import { parseReference } from '../../src/registry/reference.ts';
import { startRegistry, type RegistryServer } from '../helpers/registry.ts';
import { tempDir } from '../image/helpers.ts';
import { EPOCH, treeLayer } from '../image/image-helpers.ts';

let registry: RegistryServer;
before(async () => {
  registry = await startRegistry('anonymous');
});
after(async () => {
  await registry.stop();
});

type Fault = 'drop' | 503 | 400;

/**
 * A proxy to the registry that answers the requests `faulty` picks with `fault` instead, `times`
 * times (Infinity: always); it counts every request it saw by method and kind.
 */
async function flakyProxy(
  faulty: (req: http.IncomingMessage) => boolean,
  fault: Fault,
  times: number,
): Promise<{ host: string; seen: string[]; close: () => Promise<void> }> {
  const upstream = new URL(registry.url);
  const seen: string[] = [];
  let left = times;
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${new URL(req.url ?? '/', 'http://x').pathname}`);
    if (left > 0 && faulty(req)) {
      left--;
      req.resume();
      if (fault === 'drop') req.socket.destroy();
      else res.writeHead(fault, { 'content-type': 'application/json' }).end('{"errors":[]}');
      return;
    }
    const up = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function layout(t: TestContext, content: string): Promise<string> {
  const layer = await treeLayer(t, [['etc/motd', content]]);
  const dir = join(tempDir(t), 'app.oci');
  await writeOciLayout(dir, {
    layers: [layer],
    config: {},
    os: 'linux',
    arch: 'amd64',
    created: EPOCH,
    tag: '1',
  });
  return dir;
}

const blobUpload = (req: http.IncomingMessage) =>
  req.method === 'PUT' && /\/blobs\/uploads\//.test(req.url ?? '');
const manifestPut = (req: http.IncomingMessage) =>
  req.method === 'PUT' && /\/manifests\//.test(req.url ?? '');

for (const [what, faulty, fault] of [
  ['a 503 on a blob upload', blobUpload, 503],
  ['a dropped connection on the manifest', manifestPut, 'drop'],
] as const) {
  test(`${what} is tried again, said once, and the push completes`, async (t) => {
    const proxy = await flakyProxy(faulty, fault, 1);
    t.after(() => proxy.close());
    const client = new RegistryClient({ registry: proxy.host, insecure: true, env: {} });
    t.after(() => client.close());
    const retries: string[] = [];
    const ref = parseReference(`${proxy.host}/retry/app:1`);
    const { digest } = await pushLayout(await layout(t, `${what}\n`), '1', ref, client, {
      onRetry: (error, attempt) => retries.push(`${attempt} ${error.code}`),
    });
    const code = fault === 503 ? 'BUILDIT_REGISTRY_REJECTED' : 'BUILDIT_REGISTRY_UNREACHABLE';
    assert.deepEqual(retries, [`1 ${code}`], 'one retry, after the first attempt failed');
    const manifest = await client.getManifest('retry/app', '1', [
      'application/vnd.oci.image.manifest.v1+json',
    ]);
    assert.equal(manifest.digest, digest, 'the registry holds the manifest pushed');
  });
}

test('a refusal (400) is not tried again: one request, and its error', async (t) => {
  const proxy = await flakyProxy(manifestPut, 400, Infinity);
  t.after(() => proxy.close());
  const client = new RegistryClient({ registry: proxy.host, insecure: true, env: {} });
  t.after(() => client.close());
  let retried = 0;
  await assert.rejects(
    pushLayout(await layout(t, 'refused\n'), '1', parseReference(`${proxy.host}/retry/refused:1`), client, {
      onRetry: () => retried++,
    }),
    (error: unknown) => error instanceof RegistryError && !error.transient,
  );
  assert.equal(retried, 0);
  assert.equal(proxy.seen.filter((s) => s.startsWith('PUT') && s.includes('/manifests/')).length, 1);
});

test('a registry that keeps failing: 3 attempts, then the error says so', async (t) => {
  const proxy = await flakyProxy(manifestPut, 503, Infinity);
  t.after(() => proxy.close());
  const client = new RegistryClient({ registry: proxy.host, insecure: true, env: {} });
  t.after(() => client.close());
  await assert.rejects(
    pushLayout(await layout(t, 'down\n'), '1', parseReference(`${proxy.host}/retry/down:1`), client),
    (error: unknown) => error instanceof RegistryError && / \(3 attempts\)$/.test(error.message),
  );
  assert.equal(proxy.seen.filter((s) => s.startsWith('PUT') && s.includes('/manifests/')).length, 3);
});
