/**
 * Reproducibility: two builds of examples/hello from two empty stores, with
 * different TZ, umask, source file mtimes and container dir paths, give the
 * same OCI manifest digest and the same ACI image ID.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync, utimesSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, testEnv } from '../helpers/cli.ts';
import { repoCopy, testdir } from '../helpers/testdir.ts';

function touchAll(dir: string, seconds: number): void {
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    const file = path.join(entry.parentPath, entry.name);
    utimesSync(file, seconds, seconds);
  }
}

function build(dir: string, umask: string, tz: string): { oci: string; aci: string } {
  const out = testdir();
  const env = testEnv({ TZ: tz });
  const r = spawnSync(
    'sh',
    [
      '-c',
      `umask ${umask}; exec "$0" "$@"`,
      process.execPath,
      path.join(REPO, 'bin/buildit.js'),
      dir,
      '-o',
      out,
      '--json',
    ],
    {
      env,
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const events = r.stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  const digest = (format: string) =>
    String(events.find((e) => e['type'] === 'image' && e['format'] === format)!['digest']);
  return { oci: digest('oci'), aci: digest('aci') };
}

test('same inputs, same digests: other store, TZ, umask, mtimes and paths', () => {
  const a = repoCopy('examples/hello', { root: path.join(testdir(), 'a') }).ctr;
  const b = repoCopy('examples/hello', { root: path.join(testdir(), 'some', 'deeper', 'place') }).ctr;
  touchAll(path.dirname(path.dirname(b)), 1_234_567_890);
  assert.notEqual(
    statSync(path.join(a, 'container.yaml')).mtimeMs,
    statSync(path.join(b, 'container.yaml')).mtimeMs,
  );
  const first = build(a, '022', 'UTC');
  const second = build(b, '077', 'Pacific/Chatham');
  assert.deepEqual(second, first);
});
