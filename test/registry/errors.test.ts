import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { formatRegistryErrors } from '../../src/registry/client.ts';
import { pickPlatform } from '../../src/registry/pull.ts';
import { RegistryError } from '../../src/registry/errors.ts';
import { parseReference } from '../../src/registry/reference.ts';

describe('formatRegistryErrors', () => {
  test('code, message and detail of each entry', () => {
    const body = Buffer.from(
      JSON.stringify({
        errors: [
          { code: 'MANIFEST_INVALID', message: 'manifest invalid', detail: { reason: 'blob unknown' } },
          { code: 'DENIED', message: 'requested access to the resource is denied' },
        ],
      }),
    );
    assert.equal(
      formatRegistryErrors(body),
      'MANIFEST_INVALID: manifest invalid ({"reason":"blob unknown"}); DENIED: requested access to the resource is denied',
    );
  });
  test('not a registry error document', () => {
    assert.equal(formatRegistryErrors(Buffer.from('<html>')), '');
    assert.equal(formatRegistryErrors(Buffer.from('{"x":1}')), '');
  });
});

describe('pickPlatform', () => {
  const ref = parseReference('alpine:3.20');
  const d = (n: number): string => `sha256:${String(n).repeat(64)}`;
  const entries = [
    { digest: d(1), platform: { os: 'linux', architecture: 'amd64' } },
    { digest: d(2), platform: { os: 'linux', architecture: 'arm', variant: 'v7' } },
    { digest: d(3), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
    { digest: d(4), platform: { os: 'unknown', architecture: 'unknown' } },
  ];
  test('matches os/arch, and variant when asked', () => {
    assert.equal(pickPlatform(ref, entries, { os: 'linux', arch: 'amd64' }).digest, d(1));
    assert.equal(pickPlatform(ref, entries, { os: 'linux', arch: 'arm64' }).digest, d(3));
    assert.equal(pickPlatform(ref, entries, { os: 'linux', arch: 'arm', variant: 'v7' }).digest, d(2));
  });
  test('no match lists what there is (attestations left out)', () => {
    assert.throws(
      () => pickPlatform(ref, entries, { os: 'linux', arch: 's390x' }),
      (error: unknown) => {
        assert.ok(error instanceof RegistryError);
        assert.equal(error.code, 'BUILDIT_REGISTRY_PLATFORM');
        assert.equal(error.exitCode, 1);
        assert.match(
          error.message,
          /no image for linux\/s390x; it has linux\/amd64, linux\/arm\/v7, linux\/arm64\/v8$/,
        );
        return true;
      },
    );
  });
});
