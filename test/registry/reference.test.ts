import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BuilditError } from '../../src/errors.ts';
import { apiHost, formatReference, parseReference } from '../../src/registry/reference.ts';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  const valid: [string, { registry: string; repository: string; tag?: string; digest?: string }][] = [
    ['alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }],
    ['alpine:3.20', { registry: 'docker.io', repository: 'library/alpine', tag: '3.20' }],
    ['docker.io/alpine', { registry: 'docker.io', repository: 'library/alpine', tag: 'latest' }],
    [
      'index.docker.io/library/alpine:edge',
      { registry: 'docker.io', repository: 'library/alpine', tag: 'edge' },
    ],
    ['registry-1.docker.io/org/app', { registry: 'docker.io', repository: 'org/app', tag: 'latest' }],
    ['org/app:v1', { registry: 'docker.io', repository: 'org/app', tag: 'v1' }],
    ['ghcr.io/org/app:1.0', { registry: 'ghcr.io', repository: 'org/app', tag: '1.0' }],
    ['ghcr.io/app', { registry: 'ghcr.io', repository: 'app', tag: 'latest' }],
    ['localhost/app', { registry: 'localhost', repository: 'app', tag: 'latest' }],
    ['localhost:5000/app:dev', { registry: 'localhost:5000', repository: 'app', tag: 'dev' }],
    ['127.0.0.1:5000/a/b/c', { registry: '127.0.0.1:5000', repository: 'a/b/c', tag: 'latest' }],
    ['[::1]:5000/app', { registry: '[::1]:5000', repository: 'app', tag: 'latest' }],
    ['Registry.Example/app', { registry: 'Registry.Example', repository: 'app', tag: 'latest' }],
    [`alpine@${DIGEST}`, { registry: 'docker.io', repository: 'library/alpine', digest: DIGEST }],
    [`r.io:443/a:t@${DIGEST}`, { registry: 'r.io:443', repository: 'a', tag: 't', digest: DIGEST }],
    [
      'a/my_app/web-server__x.y',
      { registry: 'docker.io', repository: 'a/my_app/web-server__x.y', tag: 'latest' },
    ],
    ['a:_Tag.1-x', { registry: 'docker.io', repository: 'library/a', tag: '_Tag.1-x' }],
  ];
  for (const [text, expected] of valid) {
    test(text, () => {
      const ref = parseReference(text);
      assert.deepEqual({ ...ref }, { ...expected, text });
    });
  }

  const invalid: [string, RegExp][] = [
    ['', /empty/],
    [' alpine', /spaces/],
    ['Alpine', /lower case/],
    ['ghcr.io/Org/app', /lower case/],
    ['alpine:', /tag/],
    ['alpine:-x', /tag/],
    [`alpine:${'t'.repeat(129)}`, /tag/],
    ['alpine@sha256:abc', /digest/],
    [`alpine@sha512:${'a'.repeat(128)}`, /digest/],
    ['a//b', /empty path component/],
    ['a/b/', /empty path component/],
    ['ghcr.io/', /no repository/],
    ['a..b', /not a valid repository component/],
    ['-a', /not a valid repository component/],
    ['a_', /not a valid repository component/],
    ['bad_host.io:x/app', /tag|host/],
    ['-bad.io/app', /host/],
    [`a/${'b'.repeat(256)}`, /longer than 255/],
  ];
  for (const [text, why] of invalid) {
    test(`invalid: ${JSON.stringify(text.slice(0, 40))}`, () => {
      assert.throws(
        () => parseReference(text),
        (error: unknown) => {
          assert.ok(error instanceof BuilditError);
          assert.equal(error.code, 'BUILDIT_REGISTRY_REFERENCE');
          assert.equal(error.exitCode, 2);
          assert.match(error.message, why);
          assert.ok(error.hint);
          return true;
        },
      );
    });
  }

  test('api host and canonical form', () => {
    assert.equal(apiHost('docker.io'), 'index.docker.io');
    assert.equal(apiHost('localhost:5000'), 'localhost:5000');
    assert.equal(formatReference(parseReference('alpine')), 'docker.io/library/alpine:latest');
    assert.equal(formatReference(parseReference(`x.io/a@${DIGEST}`)), `x.io/a@${DIGEST}`);
  });
});
