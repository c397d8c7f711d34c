/** What the benchmark sections share: timing, repetition, the buildit process, and the result rows. */
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('..', import.meta.url));
const BIN = path.join(REPO, 'bin/buildit.js');

/** A target as issue 7 states it: `value op bound`. */
export type Target = ['<' | '<=' | '>=', number];

export interface Row {
  name: string;
  value: number;
  unit: string;
  target?: string;
  pass?: boolean;
  note?: string;
}

export const rows: Row[] = [];

export function record(
  name: string,
  value: number,
  unit: string,
  extra: { target?: Target; note?: string } = {},
): void {
  const row: Row = { name, value, unit };
  if (extra.target) {
    const [op, bound] = extra.target;
    row.target = `${op} ${bound}`;
    row.pass = op === '<' ? value < bound : op === '<=' ? value <= bound : value >= bound;
  }
  if (extra.note) row.note = extra.note;
  rows.push(row);
}

export function table(): string {
  const width = Math.max(...rows.map((r) => r.name.length));
  return rows
    .map((r) => {
      const verdict = r.pass === undefined ? '' : r.pass ? 'PASS' : 'FAIL';
      const target = r.target ? `target ${r.target}` : '';
      return [
        r.name.padEnd(width),
        r.value.toFixed(3).padStart(9),
        r.unit.padEnd(4),
        verdict.padEnd(4),
        target.padEnd(14),
        r.note ?? '',
      ]
        .join('  ')
        .trimEnd();
    })
    .join('\n');
}

export function seconds(fn: () => void): number {
  const start = process.hrtime.bigint();
  fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export async function secondsAsync(fn: () => Promise<unknown>): Promise<number> {
  const start = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - start) / 1e9;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `buildit …`, waited for; throws with its output when it fails. */
export function buildit(args: string[], env: NodeJS.ProcessEnv): void {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`buildit ${args.join(' ')} failed:\n${r.stdout}\n${r.stderr}`);
}

/** `sh -c script`, waited for; throws with its stderr when it fails. */
export function sh(script: string): void {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${script} failed: ${r.stderr}`);
}

export interface TimedLine {
  /** Seconds since the process was started. */
  at: number;
  event: Record<string, unknown>;
}

/**
 * `buildit … --json` under GNU time: each output line stamped as it arrives (the build's phases
 * from outside, without instrumenting it), the whole run's seconds and its peak RSS in KiB.
 */
export async function builditTimed(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ seconds: number; maxRssKiB: number; lines: TimedLine[] }> {
  const start = process.hrtime.bigint();
  const since = (): number => Number(process.hrtime.bigint() - start) / 1e9;
  // GNU time's report goes to a file of its own: stderr stays buildit's.
  const report = path.join(env['BENCH_SCRATCH'] ?? '/tmp', `time-${process.pid}-${rows.length}.txt`);
  const child = spawn('/usr/bin/time', ['-f', '%M', '-o', report, process.execPath, BIN, ...args, '--json'], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: TimedLine[] = [];
  let pending = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const at = since();
    pending += chunk;
    const parts = pending.split('\n');
    pending = parts.pop() ?? '';
    for (const line of parts)
      if (line) lines.push({ at, event: JSON.parse(line) as Record<string, unknown> });
  });
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  const took = since();
  if (code !== 0) throw new Error(`buildit ${args.join(' ')} failed (${code}):\n${stderr}`);
  const maxRssKiB = Number(readFileSync(report, 'utf8').trim().split('\n').pop());
  rmSync(report, { force: true });
  return { seconds: took, maxRssKiB, lines };
}
