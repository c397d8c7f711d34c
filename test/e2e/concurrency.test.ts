/** Two builds of the same identity at once share one store: it is built once (a lock in the store). */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { REPO, testEnv } from '../helpers/cli.ts';
import { testdir } from '../helpers/testdir.ts';

function run(
  ctr: string,
  out: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; events: Record<string, unknown>[] }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(REPO, 'bin/buildit.js'), ctr, '-o', out, '--json'], {
      env,
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('exit', (code) =>
      resolve({
        code: code ?? -1,
        events: stdout
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l) as Record<string, unknown>),
      }),
    );
  });
}

test('two concurrent builds of one identity build it once', async () => {
  const dir = testdir({
    '.buildit-config.yaml': 'recipes: [./recipes]\n',
    'recipes/app-test/slow/slow-1.0.yaml':
      'build:\n  - sleep 1\n  - mkdir -p "$DESTDIR/usr/share/slow" && echo "built once" > "$DESTDIR/usr/share/slow/proof"\n',
    'ctr/container.yaml':
      '- vars: { name: slow, version: "1" }\n- package: { type: recipe, atom: app-test/slow-1.0 }\n- image: { type: oci, content: "{}" }\n',
  });
  const env = testEnv();
  const [a, b] = await Promise.all([
    run(path.join(dir, 'ctr'), path.join(dir, 'out-a'), env),
    run(path.join(dir, 'ctr'), path.join(dir, 'out-b'), env),
  ]);
  assert.equal(a.code, 0);
  assert.equal(b.code, 0);
  const sources = [a, b].map((r) => r.events.find((e) => e['type'] === 'package')!['source']).sort();
  assert.deepEqual(sources, ['build', 'store']);
  const digest = (r: typeof a) => r.events.find((e) => e['type'] === 'image')!['digest'];
  assert.equal(digest(a), digest(b));
});
