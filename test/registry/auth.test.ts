import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { inspect } from 'node:util';
import {
  Authenticator,
  authError,
  parseTokenResponse,
  parseWwwAuthenticate,
  pickChallenge,
  type TokenFetch,
} from '../../src/registry/auth.ts';
import type { Credentials } from '../../src/registry/credentials.ts';
import { RegistryError } from '../../src/registry/errors.ts';

describe('parseWwwAuthenticate', () => {
  const table: [string, { scheme: string; params: Record<string, string> }[]][] = [
    ['Basic realm="Registry Realm"', [{ scheme: 'basic', params: { realm: 'Registry Realm' } }]],
    [
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://auth.docker.io/token',
            service: 'registry.docker.io',
            scope: 'repository:library/alpine:pull',
          },
        },
      ],
    ],
    [
      'Bearer realm="https://a/t", scope="repository:a:pull,push repository:b:pull", error="insufficient_scope"',
      [
        {
          scheme: 'bearer',
          params: {
            realm: 'https://a/t',
            scope: 'repository:a:pull,push repository:b:pull',
            error: 'insufficient_scope',
          },
        },
      ],
    ],
    [
      'bearer Realm=https://x/token,Service=reg',
      [{ scheme: 'bearer', params: { realm: 'https://x/token', service: 'reg' } }],
    ],
    ['Basic realm="a \\"quoted\\" realm"', [{ scheme: 'basic', params: { realm: 'a "quoted" realm' } }]],
    [
      'Negotiate, Basic realm="r", Bearer realm="https://t",service="s"',
      [
        { scheme: 'negotiate', params: {} },
        { scheme: 'basic', params: { realm: 'r' } },
        { scheme: 'bearer', params: { realm: 'https://t', service: 's' } },
      ],
    ],
    [
      'Basic YWxhZGRpbjpvcGVuc2VzYW1l==, Bearer realm="x"',
      [
        { scheme: 'basic', params: {} },
        { scheme: 'bearer', params: { realm: 'x' } },
      ],
    ],
    ['', []],
    ['=broken', []],
  ];
  for (const [header, expected] of table) {
    test(JSON.stringify(header.slice(0, 50)), () => assert.deepEqual(parseWwwAuthenticate(header), expected));
  }

  test('pickChallenge prefers Bearer', () => {
    assert.equal(pickChallenge(parseWwwAuthenticate('Basic realm="r", Bearer realm="t"'))?.scheme, 'bearer');
    assert.equal(pickChallenge(parseWwwAuthenticate('Negotiate')), undefined);
  });
});

describe('parseTokenResponse', () => {
  test('token, access_token, default lifetime', () => {
    assert.deepEqual(parseTokenResponse(Buffer.from('{"token":"t","expires_in":300}')), {
      token: 't',
      expiresIn: 300,
    });
    assert.deepEqual(parseTokenResponse(Buffer.from('{"access_token":"a"}')), { token: 'a', expiresIn: 60 });
    assert.equal(parseTokenResponse(Buffer.from('{}')), undefined);
    assert.equal(parseTokenResponse(Buffer.from('nope')), undefined);
  });
});

const SECRET = 's3cr3t-Pa55';
const SCOPE = 'repository:org/app:pull,push';

function fakeFetch(answers: { status: number; body: string }[]): {
  fetch: TokenFetch;
  calls: Parameters<TokenFetch>[0][];
} {
  const calls: Parameters<TokenFetch>[0][] = [];
  return {
    calls,
    fetch: async (request) => {
      calls.push(request);
      const answer = answers.shift() ?? { status: 500, body: '' };
      return { status: answer.status, body: Buffer.from(answer.body) };
    },
  };
}

function authenticator(
  credentials: Credentials | undefined,
  fetch: TokenFetch,
  now = () => 0,
): Authenticator {
  return new Authenticator({ registry: 'reg.example', credentials: async () => credentials, fetch, now });
}

describe('Authenticator', () => {
  test('no challenge, no header', async () => {
    const { fetch } = fakeFetch([]);
    assert.equal(
      await authenticator({ username: 'u', password: SECRET }, fetch).authorization([SCOPE]),
      undefined,
    );
  });

  test('Basic challenge → Basic header', async () => {
    const { fetch, calls } = fakeFetch([]);
    const auth = authenticator({ username: 'u', password: SECRET }, fetch);
    assert.ok(auth.challenged('Basic realm="r"'));
    assert.equal(await auth.authorization([SCOPE]), `Basic ${Buffer.from(`u:${SECRET}`).toString('base64')}`);
    assert.equal(calls.length, 0);
  });

  test('Bearer: GET realm with service, scopes and Basic credentials; cached until expiry', async () => {
    const { fetch, calls } = fakeFetch([
      { status: 200, body: '{"token":"tok1","expires_in":300}' },
      { status: 200, body: '{"token":"tok2","expires_in":300}' },
    ]);
    let clock = 0;
    const auth = authenticator({ username: 'u', password: SECRET }, fetch, () => clock);
    auth.challenged('Bearer realm="https://auth.example/token",service="reg"');
    const scopes = [SCOPE, 'repository:base/img:pull'];
    assert.equal(await auth.authorization(scopes), 'Bearer tok1');
    assert.equal(await auth.authorization([...scopes].reverse()), 'Bearer tok1');
    assert.equal(calls.length, 1);
    const url = calls[0]!.url;
    assert.equal(url.origin + url.pathname, 'https://auth.example/token');
    assert.equal(url.searchParams.get('service'), 'reg');
    assert.deepEqual(url.searchParams.getAll('scope'), scopes);
    assert.equal(calls[0]!.headers.authorization, `Basic ${Buffer.from(`u:${SECRET}`).toString('base64')}`);
    clock = 295_000; // within 10 s of expiry
    assert.equal(await auth.authorization(scopes), 'Bearer tok2');
    assert.equal(calls.length, 2);
  });

  test('Bearer without credentials asks anonymously', async () => {
    const { fetch, calls } = fakeFetch([{ status: 200, body: '{"access_token":"anon"}' }]);
    const auth = authenticator(undefined, fetch);
    auth.challenged('Bearer realm="https://auth.example/token",service="reg",scope="repository:x:pull"');
    assert.equal(await auth.authorization(['repository:y:pull']), 'Bearer anon');
    assert.equal(calls[0]!.headers.authorization, undefined);
    assert.deepEqual(calls[0]!.url.searchParams.getAll('scope'), ['repository:y:pull', 'repository:x:pull']);
  });

  test('an identity token is an OAuth2 refresh token (POST)', async () => {
    const { fetch, calls } = fakeFetch([{ status: 200, body: '{"access_token":"acc"}' }]);
    const auth = authenticator({ identityToken: SECRET }, fetch);
    auth.challenged('Bearer realm="https://auth.example/token",service="reg"');
    assert.equal(await auth.authorization([SCOPE]), 'Bearer acc');
    assert.equal(calls[0]!.method, 'POST');
    const form = new URLSearchParams(calls[0]!.body!.toString());
    assert.equal(form.get('grant_type'), 'refresh_token');
    assert.equal(form.get('refresh_token'), SECRET);
    assert.equal(form.get('scope'), SCOPE);
  });

  test('a refused token request is BUILDIT_REGISTRY_AUTH, not transient, without the secret', async () => {
    const { fetch } = fakeFetch([{ status: 401, body: `{"details":"bad password ${SECRET}"}` }]);
    const auth = authenticator({ username: 'u', password: SECRET }, fetch);
    auth.challenged('Bearer realm="https://auth.example/token?x=1",service="reg"');
    await assert.rejects(auth.authorization([SCOPE]), (error: unknown) => {
      assert.ok(error instanceof RegistryError);
      assert.equal(error.code, 'BUILDIT_REGISTRY_AUTH');
      assert.equal(error.exitCode, 1);
      assert.equal(error.transient, false);
      assert.match(error.message, /reg\.example/);
      assert.match(error.hint ?? '', /docker login reg\.example/);
      assert.match(error.hint ?? '', /BUILDIT_REGISTRY_USERNAME/);
      assert.ok(!inspect(error).includes(SECRET));
      assert.ok(!inspect(error).includes(Buffer.from(`u:${SECRET}`).toString('base64')));
      return true;
    });
  });

  test('a token service failure is transient', async () => {
    const { fetch } = fakeFetch([{ status: 503, body: '' }]);
    const auth = authenticator(undefined, fetch);
    auth.challenged('Bearer realm="https://auth.example/token"');
    await assert.rejects(auth.authorization([SCOPE]), (error: unknown) => {
      assert.ok(error instanceof RegistryError && error.transient);
      return true;
    });
  });

  test('authError says whether credentials were sent', () => {
    assert.match(authError('r.io', true).message, /refused the credentials/);
    assert.match(authError('r.io', false).message, /none were found/);
    assert.match(authError('r.io', false).hint ?? '', /~\/\.docker\/config\.json/);
  });
});
