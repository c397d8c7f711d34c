import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BuilditError } from '../../src/errors.ts';
import type { PackageNode } from '../../src/recipe/types.ts';
import { buildEnv } from '../../src/build/env.ts';
import { runBuildLines, tailLines } from '../../src/build/runner.ts';
import { resolveSandbox, sandboxArgv, type Sandbox } from '../../src/build/sandbox.ts';
import { testdir } from '../helpers/testdir.ts';

const NONE: Sandbox = { kind: 'none', reason: 'test' };

/** bubblewrap, or a failure that says how to install it. */
async function bwrap(): Promise<Sandbox> {
  return resolveSandbox('on');
}

/** A work dir laid out as a build's: src (cwd), dest, home; the log beside them. */
function workspace(files: Record<string, string> = {}) {
  const root = testdir({ 'src/.keep': '', 'dest/.keep': '', 'home/.keep': '' });
  for (const [rel, text] of Object.entries(files)) writeFileSync(path.join(root, 'src', rel), text);
  const node = { recipe: { epoch: 0 }, flags: [], use: {}, env: {} } as unknown as PackageNode;
  const env = buildEnv({
    node,
    srcDir: path.join(root, 'src'),
    destDir: path.join(root, 'dest'),
    homeDir: path.join(root, 'home'),
    jobs: 2,
    buildDeps: [],
  });
  return { root, cwd: path.join(root, 'src'), env, logFile: path.join(root, 'logs', 'build.log') };
}

async function run(
  lines: string[],
  sandbox: Sandbox = NONE,
  ws = workspace(),
  signal?: AbortSignal,
): Promise<{ ws: typeof ws; log: () => string }> {
  await runBuildLines({
    lines,
    cwd: ws.cwd,
    env: ws.env,
    sandbox,
    writable: [ws.root],
    logFile: ws.logFile,
    signal,
  });
  return { ws, log: () => readFileSync(ws.logFile, 'utf8') };
}

/** Runs lines that must fail; returns the error and the log. */
async function runFailing(lines: string[], sandbox: Sandbox = NONE, ws = workspace()) {
  try {
    await run(lines, sandbox, ws);
  } catch (error) {
    assert.ok(error instanceof BuilditError, String(error));
    return { error, log: readFileSync(ws.logFile, 'utf8'), ws };
  }
  assert.fail(`expected the build to fail: ${lines.join(' / ')}\n${readFileSync(ws.logFile, 'utf8')}`);
}

/** The variables `env` printed after the log's header line. */
function printedEnv(log: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of log.split('\n').slice(1)) {
    const eq = line.indexOf('=');
    if (eq > 0) out[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return out;
}

for (const mode of ['none', 'bwrap'] as const) {
  const sandbox = async () => (mode === 'none' ? NONE : await bwrap());

  test(`${mode}: the build sees exactly its environment, nothing of ours`, async () => {
    process.env['BUILDIT_TEST_CANARY'] = 'leaked';
    try {
      const { ws, log } = await run(['env'], await sandbox());
      assert.doesNotMatch(log(), /BUILDIT_TEST_CANARY|leaked/);
      const seen = printedEnv(log());
      // bash itself sets PWD, SHLVL and _.
      const { PWD, SHLVL: _shlvl, _: _underscore, ...rest } = seen;
      assert.deepEqual(rest, ws.env);
      assert.equal(PWD, ws.cwd);
    } finally {
      delete process.env['BUILDIT_TEST_CANARY'];
    }
  });

  test(`${mode}: lines run in order in the source dir, and the log has headers and output`, async () => {
    const { ws, log } = await run(['echo one', 'pwd', 'echo out; echo err >&2; echo out2'], await sandbox());
    assert.equal(
      log(),
      `$ echo one\none\n$ pwd\n${ws.cwd}\n$ echo out; echo err >&2; echo out2\nout\nerr\nout2\n`,
    );
  });

  test(`${mode}: umask 022 whatever ours is`, async () => {
    const previous = process.umask(0o077);
    try {
      const { ws } = await run(['touch file; mkdir dir; umask > umask.txt'], await sandbox());
      assert.equal(statSync(path.join(ws.cwd, 'file')).mode & 0o777, 0o644);
      assert.equal(statSync(path.join(ws.cwd, 'dir')).mode & 0o777, 0o755);
      assert.equal(readFileSync(path.join(ws.cwd, 'umask.txt'), 'utf8'), '0022\n');
    } finally {
      process.umask(previous);
    }
  });

  test(`${mode}: a compiler works (cc, with /tmp and HOME writable)`, async () => {
    const ws = workspace({ 'hello.c': '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n' });
    await run(
      ['cc -O2 -o hello hello.c', './hello > hello.txt', 'touch "$HOME/.cache-ok"'],
      await sandbox(),
      ws,
    );
    assert.equal(readFileSync(path.join(ws.cwd, 'hello.txt'), 'utf8'), 'hello\n');
    assert.ok(existsSync(path.join(ws.root, 'home', '.cache-ok')));
  });
}

test('-euo pipefail: a failing pipe, an unset variable and a failing command each fail the line', async () => {
  for (const line of ['false | true', 'echo "$NOT_SET_ANYWHERE"', 'false; echo after']) {
    const { error, log } = await runFailing(['echo before', line, 'echo never']);
    assert.equal(error.message, `build line 2 failed with exit code 1: ${line}`);
    assert.match(log, /^before$/m);
    assert.doesNotMatch(log, /^(after|never)$/m);
    assert.doesNotMatch(log, /\$ echo never/);
  }
});

test('a failure: code, exit code 1, message, the last 30 lines and the log in the hint', async () => {
  const line = 'for i in $(seq 1 100); do echo "line-$i"; done; exit 3';
  const { error, log, ws } = await runFailing(['true', line]);
  assert.equal(error.code, 'BUILDIT_BUILD_FAILED');
  assert.equal(error.exitCode, 1);
  assert.equal(error.message, `build line 2 failed with exit code 3: ${line}`);
  const hint = error.hint ?? '';
  const shown = Array.from({ length: 30 }, (_, i) => `line-${71 + i}`);
  assert.equal(hint, ['last 30 lines of the log:', ...shown, `full log: ${ws.logFile}`].join('\n'));
  // The log has everything.
  const expected = Array.from({ length: 100 }, (_, i) => `line-${i + 1}`);
  assert.equal(log, `$ true\n$ ${line}\n${expected.join('\n')}\n`);
});

test('a line killed by a signal says so', async () => {
  const { error } = await runFailing(['kill -KILL $$']);
  assert.equal(error.message, 'build line 1 killed by SIGKILL: kill -KILL $$');
  assert.equal(error.exitCode, 1);
});

test('bwrap: a killed line is exit code 128 + n, and the hint names the signal', async () => {
  const { error } = await runFailing(['kill -KILL $$'], await bwrap());
  assert.equal(error.message, 'build line 1 failed with exit code 137: kill -KILL $$');
  assert.match(error.hint ?? '', /^exit code 137 usually means a process was killed by SIGKILL/);
});

test('a line that cannot start fails with the reason on one line', async () => {
  const ws = workspace();
  rmSync(ws.cwd, { recursive: true });
  const { error } = await runFailing(['true'], NONE, ws);
  assert.equal(error.code, 'BUILDIT_BUILD_FAILED');
  assert.match(error.message, /^build line 1 could not start: [^\n]*cwd[^\n]*: true$/);
});

test('output without a final newline does not swallow the next header', async () => {
  const { log } = await run(['printf partial', 'echo next']);
  assert.equal(log(), '$ printf partial\npartial\n$ echo next\nnext\n');
});

test('the log is appended to, and its folder is created', async () => {
  const ws = workspace();
  await run(['echo first'], NONE, ws);
  await run(['echo second'], NONE, ws);
  assert.equal(readFileSync(ws.logFile, 'utf8'), '$ echo first\nfirst\n$ echo second\nsecond\n');
});

/** Pids of processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(marker)) found.push(Number(entry));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

for (const mode of ['none', 'bwrap'] as const) {
  test(`${mode}: aborting kills the line and everything it started`, async () => {
    const sandbox = mode === 'none' ? NONE : await bwrap();
    // A unique duration marks our sleeps among the machine's processes.
    const marker = `${900 + Math.floor(Math.random() * 99)}.${process.pid}`;
    const controller = new AbortController();
    const started = Date.now();
    const done = run([`sleep ${marker} & sleep ${marker}; wait`], sandbox, workspace(), controller.signal);
    for (let i = 0; i < 100 && processesWith(`sleep\0${marker}`).length < 2; i++) await sleep(50);
    assert.equal(processesWith(`sleep\0${marker}`).length, 2, 'both sleeps started');
    const reason = new Error('stop');
    controller.abort(reason);
    await assert.rejects(done, (error) => error === reason);
    assert.ok(Date.now() - started < 10_000);
    for (let i = 0; i < 100 && processesWith(`sleep\0${marker}`).length > 0; i++) await sleep(50);
    assert.deepEqual(processesWith(`sleep\0${marker}`), []);
  });
}

test('an already aborted signal runs nothing', async () => {
  const ws = workspace();
  const controller = new AbortController();
  controller.abort(new Error('early'));
  await assert.rejects(run(['touch ran'], NONE, ws, controller.signal), /early/);
  assert.equal(existsSync(path.join(ws.cwd, 'ran')), false);
});

test('bwrap: no network, not even to a server on loopback', async () => {
  const sockets: net.Socket[] = [];
  const server = net.createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as net.AddressInfo;
    const line = `exec 3<>/dev/tcp/127.0.0.1/${port}`;
    await run([line], NONE); // reachable without the sandbox: the test is sound
    const { error, log } = await runFailing([line], await bwrap());
    assert.match(error.message, /^build line 1 failed with exit code 1:/);
    assert.match(log, /Connection refused|Network is unreachable|connect/);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('bwrap: the host is read-only, only the writable dirs can be written', async () => {
  const sandbox = await bwrap();
  // Outside /tmp (a fresh tmpfs in the sandbox), so the folder is there to see.
  const outside = mkdtempSync(path.join(existsSync('/var/tmp') ? '/var/tmp' : os.homedir(), 'buildit-ro-'));
  try {
    const { log } = await runFailing([`touch ${outside}/escaped`], sandbox);
    assert.match(log, /Read-only file system/);
    assert.equal(existsSync(path.join(outside, 'escaped')), false);

    const ws = workspace();
    await run(
      ['touch "$DESTDIR/installed" inside', 'echo scratch > /tmp/scratch; cat /tmp/scratch'],
      sandbox,
      ws,
    );
    assert.ok(existsSync(path.join(ws.root, 'dest', 'installed')));
    assert.ok(existsSync(path.join(ws.cwd, 'inside')));

    // Even run as root, the build holds no capability that could remount / read-write.
    const caps = await run(["grep '^CapEff:' /proc/self/status"], sandbox);
    assert.match(caps.log(), /^CapEff:\s+0+$/m);
  } finally {
    rmSync(outside, { recursive: true, force: true });
  }
});

test("bwrap: the host's /tmp is hidden", async () => {
  const hostTmp = testdir({ 'secret.txt': 'x' });
  const { log } = await runFailing([`cat ${hostTmp}/secret.txt`], await bwrap());
  assert.match(log, /No such file or directory/);
});

test('bwrap: a readonly folder under /tmp is visible but not writable', async () => {
  const sandbox = await bwrap();
  const dep = testdir({ 'usr/include/dep.h': '#define DEP 42\n' });
  const ws = workspace({ 'use.c': '#include <dep.h>\nint main(void) { return DEP == 42 ? 0 : 1; }\n' });
  await runBuildLines({
    lines: [`cc -I${dep}/usr/include -o use use.c`, './use', `! touch ${dep}/written`],
    cwd: ws.cwd,
    env: ws.env,
    sandbox,
    writable: [ws.root],
    readonly: [dep],
    logFile: ws.logFile,
  });
  assert.match(readFileSync(ws.logFile, 'utf8'), /Read-only file system/);
  assert.equal(existsSync(path.join(dep, 'written')), false);
});

test('sandboxArgv: the bwrap command line, pinned', () => {
  const argv = sandboxArgv(
    { kind: 'bwrap', bwrap: '/usr/bin/bwrap' },
    { cwd: '/w/src', writable: ['/w', '/x'], readonly: ['/tmp/dep'] },
    ['bash', '-c', 'make'],
  );
  assert.deepEqual(argv, [
    '/usr/bin/bwrap',
    ...['--ro-bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--tmpfs', '/tmp', '--tmpfs', '/run'],
    ...['--ro-bind', '/tmp/dep', '/tmp/dep', '--bind', '/w', '/w', '--bind', '/x', '/x'],
    ...['--unshare-net', '--unshare-pid', '--unshare-ipc', '--unshare-uts', '--hostname', 'buildit'],
    ...['--cap-drop', 'ALL', '--die-with-parent', '--new-session', '--chdir', '/w/src', '--'],
    ...['bash', '-c', 'make'],
  ]);
  assert.deepEqual(sandboxArgv(NONE, { cwd: '/w', writable: ['/w'] }, ['make']), ['make']);
});

test('resolveSandbox: on without bwrap on PATH is BUILDIT_SANDBOX_UNAVAILABLE, exit 2', async () => {
  const env = { PATH: testdir() };
  await assert.rejects(resolveSandbox('on', env), (error) => {
    assert.ok(error instanceof BuilditError);
    assert.equal(error.code, 'BUILDIT_SANDBOX_UNAVAILABLE');
    assert.equal(error.exitCode, 2);
    assert.match(error.hint ?? '', /apt-get install bubblewrap/);
    return true;
  });
  const auto = await resolveSandbox('auto', env);
  assert.equal(auto.kind, 'none');
  assert.match(auto.kind === 'none' ? auto.reason : '', /not on PATH/);
});

test('resolveSandbox: a bwrap that does not work is refused by on, skipped by auto, with its stderr', async () => {
  const dir = testdir({
    bwrap: {
      content: '#!/bin/sh\necho "bwrap: No permissions to create new namespace" >&2\nexit 1\n',
      mode: 0o755,
    },
  });
  await assert.rejects(resolveSandbox('on', { PATH: dir }), (error) => {
    assert.ok(error instanceof BuilditError);
    assert.equal(error.code, 'BUILDIT_SANDBOX_UNAVAILABLE');
    assert.equal(error.exitCode, 2);
    assert.match(error.hint ?? '', /No permissions to create new namespace/);
    assert.match(error.hint ?? '', /apt-get install bubblewrap/);
    return true;
  });
  const auto = await resolveSandbox('auto', { PATH: dir });
  assert.equal(auto.kind, 'none');
  assert.match(auto.kind === 'none' ? auto.reason : '', /No permissions to create new namespace/);
});

test('resolveSandbox: off is none; auto and on find a working bwrap here', async () => {
  assert.equal((await resolveSandbox('off')).kind, 'none');
  const on = await bwrap();
  assert.equal(on.kind, 'bwrap');
  assert.deepEqual(await resolveSandbox('auto'), on);
});

test('tailLines: the last n lines, from the end of the file', async () => {
  const dir = testdir({ 'a.log': 'one\ntwo\nthree\n', 'b.log': 'one\ntwo', 'empty.log': '' });
  assert.deepEqual(await tailLines(path.join(dir, 'a.log'), 2), ['two', 'three']);
  assert.deepEqual(await tailLines(path.join(dir, 'a.log'), 10), ['one', 'two', 'three']);
  assert.deepEqual(await tailLines(path.join(dir, 'b.log'), 1), ['two']);
  assert.deepEqual(await tailLines(path.join(dir, 'empty.log'), 5), []);
  assert.deepEqual(await tailLines(path.join(dir, 'a.log'), 0), []);

  // A big log: only its end is read (the cap keeps a 4 MiB file from being read whole).
  const big = path.join(dir, 'big.log');
  const lines = Array.from({ length: 200_000 }, (_, i) => `line ${i} ${'x'.repeat(10)}`);
  writeFileSync(big, `${lines.join('\n')}\n`);
  assert.deepEqual(await tailLines(big, 30, 4096), lines.slice(-30));

  // One huge line: what fits under the cap, marked as cut.
  const huge = path.join(dir, 'huge.log');
  writeFileSync(huge, `${'y'.repeat(100_000)}\nend\n`);
  assert.deepEqual(await tailLines(huge, 5, 1000), [`…${'y'.repeat(995)}`, 'end']);
});
