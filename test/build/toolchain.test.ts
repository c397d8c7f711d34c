import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { probeToolchain } from '../../src/build/toolchain.ts';
import { testdir, writeFiles } from '../helpers/testdir.ts';

/** A PATH whose `cc` and `getconf` are scripts that count their runs in `runs`. */
function fakeTools(): { bin: string; runs: string; env: NodeJS.ProcessEnv } {
  const dir = testdir({ runs: '' });
  const runs = path.join(dir, 'runs');
  const cc = `#!/bin/sh
echo "cc $1" >> '${runs}'
case "$1" in
  --version) printf 'cc (Fake) 1.2.3\\nCopyright\\n' ;;
  -dumpmachine) echo fake-linux-gnu ;;
esac
`;
  const getconf = `#!/bin/sh\necho "getconf" >> '${runs}'\necho "glibc 9.99"\n`;
  writeFiles(dir, {
    'bin/cc': { content: cc, mode: 0o755 },
    'bin/getconf': { content: getconf, mode: 0o755 },
  });
  const bin = path.join(dir, 'bin');
  return { bin, runs, env: { PATH: `${bin}:/usr/bin:/bin` } };
}

const runCount = (runs: string): number => readFileSync(runs, 'utf8').split('\n').filter(Boolean).length;

test('the probe asks cc and getconf on PATH', async () => {
  const { env, runs } = fakeTools();
  assert.equal(await probeToolchain(env), 'cc=cc (Fake) 1.2.3; target=fake-linux-gnu; libc=glibc 9.99');
  assert.deepEqual(readFileSync(runs, 'utf8').split('\n').filter(Boolean).sort(), [
    'cc --version',
    'cc -dumpmachine',
    'getconf',
  ]);
});

test('the answer is cached and probed again when the compiler changes', async () => {
  const { env, runs, bin } = fakeTools();
  const cacheFile = path.join(testdir(), 'cache', 'toolchain.json');
  const first = await probeToolchain(env, { cacheFile });
  assert.equal(runCount(runs), 3);
  assert.equal(await probeToolchain(env, { cacheFile }), first);
  assert.equal(runCount(runs), 3, 'a cache hit runs nothing');
  assert.equal(first, await probeToolchain(env), 'the cached answer is the probe');

  // A longer file, so that the change shows even where mtimes are coarse.
  writeFileSync(path.join(bin, 'cc'), readFileSync(path.join(bin, 'cc'), 'utf8').replace('1.2.3', '1.2.10'));
  const runsBefore = runCount(runs);
  assert.equal(
    await probeToolchain(env, { cacheFile }),
    'cc=cc (Fake) 1.2.10; target=fake-linux-gnu; libc=glibc 9.99',
  );
  assert.equal(runCount(runs), runsBefore + 3);
});

test('a torn cache file is probed over; BUILDIT_TOOLCHAIN wins over both', async () => {
  const { env, runs } = fakeTools();
  const cacheFile = path.join(testdir(), 'toolchain.json');
  writeFileSync(cacheFile, '{"schema":');
  assert.match(await probeToolchain(env, { cacheFile }), /^cc=cc \(Fake\)/);
  assert.equal(runCount(runs), 3);
  assert.equal(await probeToolchain({ ...env, BUILDIT_TOOLCHAIN: 'pinned/1' }, { cacheFile }), 'pinned/1');
  assert.equal(runCount(runs), 3);
});

test('no compiler on PATH is an answer too', async () => {
  const dir = testdir();
  assert.equal(
    await probeToolchain({ PATH: dir }, { cacheFile: path.join(dir, 'c.json') }),
    'cc=none; target=unknown; libc=unknown',
  );
});
