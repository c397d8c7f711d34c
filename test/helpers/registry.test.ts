import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { processAlive, startRegistry, type RegistryMode, type RegistryServer } from './registry.ts';
import { testdir } from './testdir.ts';
import { requireTool, tool } from './tools.ts';

const TIMEOUT = { timeout: 120_000 };

const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** A one-layer OCI layout tagged `v1`, built by hand; its manifest digest. */
function tinyLayout(): { layout: string; digest: string } {
  const work = testdir({ 'rootfs/hello.txt': 'hello from buildit\n' });
  const layout = path.join(work, 'layout');
  const blobs = path.join(layout, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const put = (data: Buffer | string): { digest: string; size: number } => {
    const hex = sha256(data);
    writeFileSync(path.join(blobs, hex), data);
    return { digest: `sha256:${hex}`, size: Buffer.byteLength(data) };
  };
  tool('tar', ['-czf', path.join(work, 'layer.tar.gz'), '-C', path.join(work, 'rootfs'), 'hello.txt']);
  const layerGz = readFileSync(path.join(work, 'layer.tar.gz'));
  const layer = put(layerGz);
  const config = put(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: {},
      rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(gunzipSync(layerGz))}`] },
    }),
  );
  const manifest = put(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', ...layer }],
    }),
  );
  writeFileSync(
    path.join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'org.opencontainers.image.ref.name': 'v1' },
        },
      ],
    }),
  );
  writeFileSync(path.join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  return { layout, digest: manifest.digest };
}

/**
 * skopeo with a permissive policy and no stored credentials (the caller's auth files stay out).
 * Asynchronous: the token issuer answers from this process, so its event loop must keep running.
 */
function skopeo(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  requireTool('skopeo');
  const dir = testdir({
    'policy.json': JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }),
    'auth.json': '{"auths":{}}',
  });
  const [command = '', ...rest] = args;
  const authFlags =
    command === 'copy'
      ? ['--src-authfile', path.join(dir, 'auth.json'), '--dest-authfile', path.join(dir, 'auth.json')]
      : ['--authfile', path.join(dir, 'auth.json')];
  return new Promise((resolve) => {
    execFile(
      'skopeo',
      ['--policy', path.join(dir, 'policy.json'), command, ...authFlags, ...rest],
      {
        encoding: 'utf8',
        timeout: 120_000,
        env: { ...process.env, REGISTRY_AUTH_FILE: path.join(dir, 'auth.json'), HOME: dir },
      },
      (error, stdout, stderr) => {
        const code = error?.code;
        resolve({ status: error ? (typeof code === 'number' ? code : -1) : 0, stdout, stderr });
      },
    );
  });
}

/** TLS and credential flags for `registry` ('dest' for copy, '' for inspect). */
function flags(registry: RegistryServer, side: 'dest' | '', creds?: string): string[] {
  const flag = (name: string): string => (side ? `--${side}-${name}` : `--${name}`);
  const out = registry.certDir ? [flag('cert-dir'), registry.certDir] : [flag('tls-verify=false')];
  if (creds !== undefined) out.push(flag('creds'), creds);
  return out;
}

/** The status and WWW-Authenticate header of GET `url` (trusting `ca`), optionally with basic auth. */
function get(
  url: string,
  ca: Buffer,
  basic?: string,
): Promise<{ status: number | undefined; challenge: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const headers = basic ? { authorization: `Basic ${Buffer.from(basic).toString('base64')}` } : {};
    https
      .get(url, { ca, headers, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode, challenge: res.headers['www-authenticate'], body }),
        );
      })
      .on('error', reject);
  });
}

for (const mode of ['anonymous', 'basic', 'token'] as RegistryMode[]) {
  test(`registry (${mode}): skopeo pushes an OCI layout and inspects it back`, TIMEOUT, async () => {
    const { layout, digest } = tinyLayout();
    const registry = await startRegistry(mode);
    try {
      assert.equal(registry.mode, mode);
      assert.match(registry.host, /^127\.0\.0\.1:\d+$/);
      assert.equal(registry.url, `${mode === 'anonymous' ? 'http' : 'https'}://${registry.host}`);
      const creds = mode === 'anonymous' ? undefined : `${registry.username}:${registry.password}`;
      if (mode === 'anonymous') {
        assert.equal(registry.caFile, undefined);
        assert.equal(registry.username, undefined);
      } else {
        assert.equal(registry.username, 'tester');
        assert.ok(registry.password && registry.password.length >= 16);
        assert.ok(registry.caFile && existsSync(registry.caFile));
        assert.ok(registry.certDir && existsSync(path.join(registry.certDir, 'ca.crt')));
      }
      const ref = `docker://${registry.host}/test/tiny:v1`;

      const copy = await skopeo(['copy', ...flags(registry, 'dest', creds), `oci:${layout}:v1`, ref]);
      assert.equal(copy.status, 0, `skopeo copy failed:\n${copy.stdout}\n${copy.stderr}`);

      const inspect = await skopeo(['inspect', ...flags(registry, '', creds), ref]);
      assert.equal(inspect.status, 0, `skopeo inspect failed:\n${inspect.stdout}\n${inspect.stderr}`);
      const info = JSON.parse(inspect.stdout) as { Digest: string; Layers: string[] };
      assert.equal(info.Digest, digest);
      assert.equal(info.Layers.length, 1);

      // Synchronous callers (the repo's tool(), spawnSync) work too: the token issuer is its own process.
      const policy = testdir({
        'policy.json': JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }),
      });
      const sync = JSON.parse(
        tool('skopeo', [
          '--policy',
          path.join(policy, 'policy.json'),
          'inspect',
          ...flags(registry, '', creds),
          ref,
        ]),
      ) as { Digest: string };
      assert.equal(sync.Digest, digest);

      if (mode !== 'anonymous') {
        // Without credentials and with wrong ones: refused.
        const anonymous = await skopeo(['inspect', ...flags(registry, ''), ref]);
        assert.notEqual(anonymous.status, 0, 'inspect without credentials succeeded');
        const wrong = await skopeo(['inspect', ...flags(registry, '', 'tester:wrong-password'), ref]);
        assert.notEqual(wrong.status, 0, 'inspect with a wrong password succeeded');
        assert.match(wrong.stderr, /401|unauthorized|invalid username\/password/i);
        const wrongPush = await skopeo([
          'copy',
          ...flags(registry, 'dest', 'tester:wrong-password'),
          `oci:${layout}:v1`,
          `docker://${registry.host}/test/other:v1`,
        ]);
        assert.notEqual(wrongPush.status, 0, 'push with a wrong password succeeded');
        assert.match(wrongPush.stderr, /401|unauthorized|invalid username\/password/i);

        const ca = readFileSync(registry.caFile ?? '');
        const v2 = await get(`${registry.url}/v2/`, ca);
        assert.equal(v2.status, 401);
        if (mode === 'basic') {
          assert.match(v2.challenge ?? '', /^Basic /);
          assert.equal((await get(`${registry.url}/v2/`, ca, creds)).status, 200);
          assert.equal((await get(`${registry.url}/v2/`, ca, 'tester:wrong-password')).status, 401);
        } else {
          assert.match(v2.challenge ?? '', /^Bearer /);
          assert.ok(v2.challenge?.includes(`realm="${registry.tokenRealm}"`), v2.challenge);
          const scope = 'repository:test/tiny:pull';
          const tokenUrl = `${registry.tokenRealm}?service=${registry.tokenService}&scope=${scope}`;
          assert.equal((await get(tokenUrl, ca, 'tester:wrong-password')).status, 401);
          const granted = await get(tokenUrl, ca, creds);
          assert.equal(granted.status, 200, granted.body);
          const body = JSON.parse(granted.body) as {
            token: string;
            access_token: string;
            expires_in: number;
          };
          assert.equal(body.token, body.access_token);
          assert.equal(body.expires_in, 300);
          const claims = JSON.parse(Buffer.from(body.token.split('.')[1] ?? '', 'base64url').toString()) as {
            access: unknown;
            aud: string;
          };
          assert.deepEqual(claims.access, [{ type: 'repository', name: 'test/tiny', actions: ['pull'] }]);
          assert.equal(claims.aud, registry.tokenService);
          // The registry accepts the issuer's token.
          const manifest = await new Promise<number | undefined>((resolve, reject) => {
            https
              .get(
                `${registry.url}/v2/test/tiny/manifests/v1`,
                {
                  ca,
                  agent: false,
                  headers: {
                    authorization: `Bearer ${body.token}`,
                    accept: 'application/vnd.oci.image.manifest.v1+json',
                  },
                },
                (res) => {
                  res.resume();
                  resolve(res.statusCode);
                },
              )
              .on('error', reject);
          });
          assert.equal(manifest, 200);
        }
      }

      if (mode === 'token')
        assert.ok(registry.tokensIssued > 0 && registry.tokenRequests > registry.tokensIssued);
      else assert.equal(registry.tokenRequests, 0);
    } finally {
      await registry.stop();
    }
    assert.ok(!processAlive(registry.pid), `registry ${registry.pid} still running after stop()`);
    if (registry.caFile) assert.ok(!existsSync(path.dirname(registry.caFile)), 'temp folder left behind');
    await registry.stop(); // twice is fine
  });
}

test('registry: several at once get their own ports and stop cleanly', TIMEOUT, async () => {
  const registries = await Promise.all(
    (['anonymous', 'basic', 'token', 'anonymous'] as RegistryMode[]).map((m) => startRegistry(m)),
  );
  try {
    assert.equal(new Set(registries.map((r) => r.host)).size, registries.length);
  } finally {
    await Promise.all(registries.map((r) => r.stop()));
  }
  for (const r of registries) assert.ok(!processAlive(r.pid));
});
