import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import {
  credentialsFromConfig,
  findCredentials,
  normalizeServer,
  parseHelperOutput,
} from '../../src/registry/credentials.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { testdir } from '../helpers/testdir.ts';

const SECRET = 'hunter2-S3CRET';
const b64 = (s: string): string => Buffer.from(s).toString('base64');

/** A HOME holding ~/.docker/config.json, and a PATH with `docker-credential-fake`. */
function home(config: unknown): { home: string; env: NodeJS.ProcessEnv } {
  const dir = testdir({
    '.docker/config.json': JSON.stringify(config),
    // Answers for reg.example and Docker Hub; says "not found" (exit 1) for anything else.
    'bin/docker-credential-fake': {
      mode: 0o755,
      content: `#!/bin/sh
[ "$1" = get ] || exit 3
read server
case "$server" in
  reg.example) printf '{"ServerURL":"reg.example","Username":"helper-user","Secret":"${SECRET}"}' ;;
  https://index.docker.io/v1/) printf '{"ServerURL":"%s","Username":"<token>","Secret":"idtok"}' "$server" ;;
  broken.example) echo "something broke" >&2; exit 2 ;;
  *) echo "credentials not found in native keychain"; exit 1 ;;
esac
`,
    },
  });
  return { home: dir, env: { PATH: `${path.join(dir, 'bin')}:${process.env.PATH ?? ''}` } };
}

describe('findCredentials', () => {
  test('BUILDIT_REGISTRY_USERNAME/PASSWORD come first, for any registry', async () => {
    const h = home({ auths: { 'reg.example': { auth: b64('other:pw') } } });
    const env = { ...h.env, BUILDIT_REGISTRY_USERNAME: 'ci', BUILDIT_REGISTRY_PASSWORD: SECRET };
    assert.deepEqual(await findCredentials('reg.example', { env, home: h.home }), {
      username: 'ci',
      password: SECRET,
    });
    assert.deepEqual(await findCredentials('any.io', { env, home: h.home }), {
      username: 'ci',
      password: SECRET,
    });
  });

  test('half of the env pair is an error that shows no secret', async () => {
    const env = { BUILDIT_REGISTRY_PASSWORD: SECRET };
    await assert.rejects(findCredentials('r.io', { env, home: testdir() }), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.equal(error.code, 'BUILDIT_REGISTRY_CREDENTIALS');
      assert.match(error.message, /BUILDIT_REGISTRY_USERNAME is not set/);
      assert.ok(!inspect(error).includes(SECRET));
      return true;
    });
  });

  test('auths: base64 auth, under the host or an https:// URL key', async () => {
    const h = home({
      auths: {
        'reg.example': { auth: b64(`alice:${SECRET}:with:colons`) },
        'https://other.example:5000/v2/': { auth: b64('bob:pw') },
      },
    });
    assert.deepEqual(await findCredentials('reg.example', h), {
      username: 'alice',
      password: `${SECRET}:with:colons`,
    });
    assert.deepEqual(await findCredentials('other.example:5000', h), { username: 'bob', password: 'pw' });
    assert.equal(await findCredentials('unknown.example', h), undefined);
  });

  test('auths: Docker Hub under https://index.docker.io/v1/', async () => {
    const h = home({ auths: { 'https://index.docker.io/v1/': { auth: b64('hubuser:pw') } } });
    assert.deepEqual(await findCredentials('docker.io', h), { username: 'hubuser', password: 'pw' });
    assert.deepEqual(await findCredentials('index.docker.io', h), { username: 'hubuser', password: 'pw' });
  });

  test('auths: identitytoken and username/password fields', async () => {
    const h = home({
      auths: {
        'id.example': { auth: b64('u:'), identitytoken: SECRET },
        'plain.example': { username: 'carol', password: 'pw' },
      },
    });
    assert.deepEqual(await findCredentials('id.example', h), { identityToken: SECRET });
    assert.deepEqual(await findCredentials('plain.example', h), { username: 'carol', password: 'pw' });
  });

  test('$DOCKER_CONFIG wins over ~/.docker', async () => {
    const h = home({ auths: { 'reg.example': { auth: b64('home:pw') } } });
    const other = testdir({
      'config.json': JSON.stringify({ auths: { 'reg.example': { auth: b64('dc:pw') } } }),
    });
    const env = { ...h.env, DOCKER_CONFIG: other };
    assert.deepEqual(await findCredentials('reg.example', { env, home: h.home }), {
      username: 'dc',
      password: 'pw',
    });
  });

  test('credHelpers run docker-credential-<name> get with the registry on stdin, before auths', async () => {
    const h = home({
      credHelpers: { 'reg.example': 'fake', 'missing.example': 'fake' },
      auths: { 'reg.example': { auth: b64('ignored:pw') } },
    });
    assert.deepEqual(await findCredentials('reg.example', h), { username: 'helper-user', password: SECRET });
    // "credentials not found" is no credentials, not an error.
    assert.equal(await findCredentials('missing.example', h), undefined);
  });

  test('credsStore is asked last; Docker Hub as https://index.docker.io/v1/; <token> is an identity token', async () => {
    const h = home({ credsStore: 'fake', auths: { 'plain.example': { username: 'carol', password: 'pw' } } });
    assert.deepEqual(await findCredentials('docker.io', h), { identityToken: 'idtok' });
    assert.deepEqual(await findCredentials('plain.example', h), { username: 'carol', password: 'pw' });
  });

  test('a failing helper is BUILDIT_REGISTRY_CREDENTIALS with its stderr', async () => {
    const h = home({ credsStore: 'fake' });
    await assert.rejects(
      findCredentials('broken.example', h),
      /docker-credential-fake get failed \(exit 2\): something broke/,
    );
  });

  test('a missing helper says so', async () => {
    const h = home({ credsStore: 'nosuchhelper' });
    await assert.rejects(findCredentials('reg.example', h), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.match(error.message, /docker-credential-nosuchhelper is not on PATH/);
      return true;
    });
  });

  test('no config file: undefined; malformed JSON: an error that does not quote the file', async () => {
    assert.equal(await findCredentials('reg.example', { env: {}, home: testdir() }), undefined);
    const dir = testdir({ '.docker/config.json': `{"auths":{"r":{"auth":"${b64(`u:${SECRET}`)}"}` });
    await assert.rejects(findCredentials('r', { env: {}, home: dir }), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.match(error.message, /is not valid JSON/);
      assert.ok(!inspect(error).includes(b64(`u:${SECRET}`)));
      return true;
    });
  });

  test('an auth that is not user:password is reported without its value', async () => {
    const h = home({ auths: { 'reg.example': { auth: b64(SECRET) } } });
    await assert.rejects(findCredentials('reg.example', h), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.ok(!inspect(error).includes(SECRET) && !inspect(error).includes(b64(SECRET)));
      return true;
    });
  });
});

describe('pure helpers', () => {
  test('normalizeServer', () => {
    assert.equal(normalizeServer('https://index.docker.io/v1/'), 'docker.io');
    assert.equal(normalizeServer('registry-1.docker.io'), 'docker.io');
    assert.equal(normalizeServer('http://Reg.Example:5000/x'), 'reg.example:5000');
  });

  test('credentialsFromConfig: helper, auths, store', () => {
    assert.deepEqual(credentialsFromConfig({ credHelpers: { 'docker.io': 'h' } }, 'docker.io', 'f'), {
      helper: 'h',
    });
    assert.deepEqual(credentialsFromConfig({ credsStore: 's', auths: {} }, 'x.io', 'f'), { helper: 's' });
    assert.equal(credentialsFromConfig({}, 'x.io', 'f'), undefined);
  });

  test('parseHelperOutput', () => {
    assert.deepEqual(parseHelperOutput('{"Username":"u","Secret":"p"}', 'h'), {
      username: 'u',
      password: 'p',
    });
    assert.equal(parseHelperOutput('{"Username":"u","Secret":""}', 'h'), undefined);
    assert.throws(
      () => parseHelperOutput(`not json ${SECRET}`, 'h'),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError && !error.message.includes(SECRET));
        return true;
      },
    );
  });
});
