/**
 * Reproducibility: two builds of examples/hello from two empty stores, with
 * different TZ, umask, source file mtimes and container dir paths, give the
 * same OCI manifest digest and the same ACI image ID.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, testEnv } from '../helpers/cli.ts';
import { testdir } from '../helpers/testdir.ts';

/** A copy of examples/hello and its recipe under `root`, outside the repository. */
function copyExample(root: string): string {
  cpSync(path.join(REPO, 'examples/hello'), path.join(root, 'containers/hello'), { recursive: true });
  cpSync(path.join(REPO, 'recipes/app-misc/hello'), path.join(root, 'recipes/app-misc/hello'), {
    recursive: true,
  });
  writeFileSync(path.join(root, '.buildit-config.yaml'), 'recipes: [./recipes]\n');
  return path.join(root, 'containers/hello');
}

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
  const a = copyExample(path.join(testdir(), 'a'));
  const b = copyExample(path.join(testdir(), 'some', 'deeper', 'place'));
  touchAll(path.dirname(path.dirname(b)), 1_234_567_890);
  assert.notEqual(
    statSync(path.join(a, 'container.yaml')).mtimeMs,
    statSync(path.join(b, 'container.yaml')).mtimeMs,
  );
  const first = build(a, '022', 'UTC');
  const second = build(b, '077', 'Pacific/Chatham');
  assert.deepEqual(second, first);
});
