/**
 * `buildit gc [--dry-run] [--keep-days N]`: remove store entries that no
 * container built in the last N days uses, never what a running build holds.
 */
import path from 'node:path';
import { BuilditError } from '../../errors.ts';
import { collectGarbage, type GcResult } from '../../store/gc.ts';
import type { GcKind, Removal } from '../../store/gc-plan.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';
import { workspaceFor } from '../workspace.ts';

export interface GcOptions extends CommonOptions {
  dryRun?: boolean;
  keepDays?: string;
}

export async function gcCommand(options: GcOptions, io: CliIO, report: Reporter): Promise<number> {
  const keepDays = parseKeepDays(options.keepDays);
  const dryRun = options.dryRun ?? false;
  // gc has no container dir: the config (and its store:) is found from the working folder.
  const { store } = await workspaceFor(io.cwd, options, io);
  report.line(
    keepDays === 0
      ? `Store ${store.root}: keeping only what running builds use`
      : `Store ${store.root}: keeping what containers built in the last ${keepDays} day${keepDays === 1 ? '' : 's'} use`,
  );
  const result = await collectGarbage(store, { keepDays, dryRun }, (entry) => {
    report.event({
      type: 'gc',
      kind: entry.kind,
      path: entry.path,
      ...(entry.id ? { id: entry.id } : {}),
      ...(entry.name ? { name: entry.name } : {}),
      ...(entry.container ? { container: entry.container } : {}),
      bytes: entry.bytes,
    });
    if (dryRun) report.answer(`  would remove ${describe(entry, store.root)}`);
  });
  if (result.running > 0)
    report.line(`${result.running} build${result.running === 1 ? '' : 's'} running: what they use is kept`);
  report.answer(summary(result));
  report.event({
    type: 'result',
    ok: true,
    dryRun,
    removed: Object.fromEntries(KINDS.map((kind) => [PLURAL[kind], count(result, kind)])),
    bytes: freed(result),
    kept: result.kept,
    running: result.running,
    store: store.root,
  });
  return 0;
}

/** A whole number of days, 0 or more (0: only running builds protect anything). */
export function parseKeepDays(value: string | undefined): number {
  if (value === undefined) return 30;
  if (/^\d+$/.test(value)) return Number(value);
  throw new BuilditError(
    'BUILDIT_USAGE_KEEP_DAYS',
    `--keep-days ${value}: expected a whole number of days >= 0`,
    {
      hint: 'e.g. --keep-days 14; --keep-days 0 keeps only what running builds use',
    },
  );
}

const KINDS: GcKind[] = ['root', 'record', 'log', 'blob', 'marker', 'tmp', 'lock', 'memo'];
const PLURAL: Record<GcKind, string> = {
  root: 'roots',
  record: 'records',
  log: 'logs',
  blob: 'blobs',
  marker: 'markers',
  tmp: 'tmp',
  lock: 'locks',
  memo: 'memos',
};

function count(result: GcResult, kind: GcKind): number {
  return result.removed.filter((r) => r.kind === kind).length;
}

function freed(result: GcResult): number {
  return result.removed.reduce((sum, r) => sum + r.bytes, 0);
}

/** `removed 2 records, 2 blobs, 1 root, 0.42 MiB freed (kept 3 records, 4 blobs)`, like nix-collect-garbage's last line. */
function summary(result: GcResult): string {
  const n = (k: number, word: string) => `${k} ${word}${k === 1 ? '' : 's'}`;
  const parts = [n(count(result, 'record'), 'record'), n(count(result, 'blob'), 'blob')];
  if (count(result, 'root')) parts.push(n(count(result, 'root'), 'root'));
  if (count(result, 'log')) parts.push(n(count(result, 'log'), 'log'));
  if (count(result, 'memo')) parts.push(n(count(result, 'memo'), 'memo') + ' of images gone');
  const leftovers = count(result, 'marker') + count(result, 'tmp') + count(result, 'lock');
  if (leftovers) parts.push(n(leftovers, 'leftover') + ' of killed runs');
  const mib = (freed(result) / 2 ** 20).toFixed(2);
  const kept = `kept ${n(result.kept.records, 'record')}, ${n(result.kept.blobs, 'blob')}`;
  return result.dryRun
    ? `would remove ${parts.join(', ')}, ${mib} MiB (${kept})`
    : `removed ${parts.join(', ')}, ${mib} MiB freed (${kept})`;
}

function describe(entry: Removal, root: string): string {
  const what = entry.container
    ? `${entry.name} (${entry.container})`
    : entry.kind === 'record'
      ? entry.name
      : undefined;
  return `${entry.kind.padEnd(6)}  ${path.relative(root, entry.path)}${what ? `  ${what}` : ''}  (${size(entry.bytes)})`;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 2 ** 20) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 2 ** 20).toFixed(1)} MiB`;
}
