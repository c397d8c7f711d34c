/** Run buildit's CLI in-process (fast) or as the real executable (exit codes, argv). */
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/main.ts';
import { testdir } from './testdir.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON lines. */
  events: Record<string, unknown>[];
}

/** A clean environment: pinned toolchain id, empty store and config homes. */
export function testEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const home = testdir();
  return {
    PATH: process.env['PATH'],
    HOME: home,
    XDG_CONFIG_HOME: path.join(home, '.config'),
    XDG_CACHE_HOME: path.join(home, '.cache'),
    BUILDIT_HOME: path.join(home, 'store'),
    BUILDIT_TOOLCHAIN: 'test-toolchain/1',
    ...extra,
  };
}

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

export async function buildit(
  argv: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; tty?: { columns: number } } = {},
): Promise<CliResult> {
  const stdout = new Sink();
  const stderr = new Sink();
  if (options.tty) {
    // Enough of a terminal for spinners: the cursor methods write their escape codes.
    Object.assign(stdout, {
      isTTY: true,
      columns: options.tty.columns,
      cursorTo: (x: number) => stdout.write(`\u001b[${x + 1}G`),
      moveCursor: (_dx: number, dy: number) => stdout.write(dy < 0 ? `\u001b[${-dy}A` : ''),
      clearLine: () => stdout.write('\u001b[0K'),
    });
  }
  const code = await run(argv, { stdout, stderr, env: options.env ?? testEnv(), cwd: options.cwd ?? REPO });
  return { code, stdout: stdout.text, stderr: stderr.text, events: jsonLines(stdout.text) };
}

/** The real bin/buildit.js in a child process (needs `npm run build`). */
export function builditBin(
  argv: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): CliResult {
  const result = spawnSync(process.execPath, [path.join(REPO, 'bin/buildit.js'), ...argv], {
    cwd: options.cwd ?? REPO,
    env: options.env ?? testEnv(),
    encoding: 'utf8',
  });
  return {
    code: result.status ?? -1,
    stdout: result.stdout,
    stderr: result.stderr,
    events: jsonLines(result.stdout),
  };
}

/** The lines of stdout that are whole JSON objects (human output has none). */
function jsonLines(text: string): Record<string, unknown>[] {
  return text.split('\n').flatMap((line) => {
    if (!line.startsWith('{') || !line.endsWith('}')) return [];
    return [JSON.parse(line) as Record<string, unknown>];
  });
}
