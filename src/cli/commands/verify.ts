/**
 * `buildit verify <dir> [--rebuild]`: every package of the container is in
 * the store (its artifact intact) or on a binhost; with --rebuild, each is
 * built again from source in a fresh store and compared byte for byte.
 * Exit 0 when all is well, 1 on any difference, damage or missing package.
 */
import path from 'node:path';
import { openBinhosts } from '../../binhost/setup.ts';
import { hostTarget } from '../../build/toolchain.ts';
import { verifyContainer, type VerifyEvent, type VerifyReport } from '../../build/verify.ts';
import type { Verdict, VerdictResult } from '../../build/verify-compare.ts';
import { BuilditError } from '../../errors.ts';
import { formatAtom } from '../../recipe/atom.ts';
import type { LocalStore } from '../../store/store.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import { Narrative } from '../narrative.ts';
import type { Reporter } from '../report.ts';
import { parseJobs, parseSandbox } from '../options.ts';
import { parseVars } from '../vars.ts';
import { workspaceFor } from '../workspace.ts';

export interface VerifyOptions extends CommonOptions {
  rebuild?: boolean;
  var?: string[];
  jobs?: string;
  sandbox?: string;
  discover?: string[];
  offline?: boolean;
}

/** Paths listed per differing package in human output (--json lists all). */
const SHOWN_PATHS = 20;

const MARKS: Record<VerdictResult, string> = {
  same: '[SAME]',
  differs: '[DIFFERS]',
  intact: '[INTACT]',
  corrupt: '[CORRUPT]',
  missing: '[MISSING]',
};

export async function verifyCommand(
  dir: string,
  options: VerifyOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  const containerDir = path.resolve(io.cwd, dir);
  const workspace = await workspaceFor(containerDir, options, io);
  const story = await Narrative.create(io, {
    enabled: !report.json && !report.quiet,
    color: options.color !== false,
  });
  const overrides = parseVars(options.var ?? []);
  const sandbox = parseSandbox(options.sandbox);
  const jobs = parseJobs(options.jobs);
  const binhosts = await openBinhosts(workspace.config, {
    discover: options.discover ?? [],
    push: false,
    offline: options.offline ?? false,
    cwd: io.cwd,
    env: io.env,
  });
  // Ctrl-C stops the rebuilds; the temporary store is removed on the way out.
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let result: VerifyReport;
  try {
    result = await verifyContainer(
      workspace,
      {
        dir: containerDir,
        overrides,
        host: hostTarget(),
        rebuild: options.rebuild ?? false,
        sandbox,
        jobs,
        signal: abort.signal,
        binhosts,
      },
      narrator(story, report),
    );
  } finally {
    story.live(undefined);
    await binhosts.close();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  const counts = countResults(result.verdicts);
  report.line(summary(result, counts, options.rebuild ?? false));
  const failure = verifyFailure(result, workspace.store, dir);
  if (failure) throw failure;
  report.event({ type: 'result', ok: true, packages: result.verdicts.length, ...counts });
  return 0;
}

/** Verify events as human lines and --json objects; on a terminal a spinner names the rebuilds in flight. */
function narrator(story: Narrative, report: Reporter): (event: VerifyEvent) => void {
  const inFlight = new Map<string, string>();
  const live = () =>
    story.live(
      inFlight.size ? `${inFlight.size} rebuilding: ${[...inFlight.values()].join(', ')}` : undefined,
    );
  return (event) => {
    switch (event.type) {
      case 'start':
        story.line(
          event.rebuild
            ? `Verifying ${event.title}: rebuilding every package from source in a fresh store`
            : `Verifying ${event.title}: checking the store's artifacts`,
        );
        report.event({ type: 'phase', phase: 'resolve', status: 'ok', title: event.title });
        return;
      case 'rebuild': {
        const atom = formatAtom(event.node.atom);
        if (event.phase === 'start') {
          inFlight.set(event.id, atom);
          report.event({ type: 'phase', phase: 'rebuild', package: atom, id: event.id, status: 'start' });
        } else inFlight.delete(event.id);
        live();
        return;
      }
      case 'verdict':
        story.print(verdictLines(event.verdict));
        report.event(verdictEvent(event.verdict));
        return;
      case 'failed':
        inFlight.delete(event.id);
        live();
        story.line(`  [FAILED] ${formatAtom(event.node.atom)} (id ${short(event.id)}): the rebuild failed`);
        report.event({ type: 'phase', phase: 'failed', package: formatAtom(event.node.atom), id: event.id });
        return;
      case 'skipped':
        story.line(
          `  [SKIPPED] ${formatAtom(event.node.atom)}: its dependency ${formatAtom(event.cause.atom)} failed`,
        );
        report.packageEvent(event.node, event.id, 'skipped');
        return;
      case 'warning':
        report.warn(event.message);
        return;
    }
  };
}

function verdictLines(verdict: Verdict): string[] {
  const where = verdict.baseline && verdict.baseline !== 'store' ? `, binhost '${verdict.baseline}'` : '';
  const head = `  ${MARKS[verdict.result]} ${formatAtom(verdict.node.atom)} (id ${short(verdict.id)}${where})`;
  const { paths } = verdict;
  if (paths.length === 1 && !verdict.detail) return [`${head}: ${paths[0]!.path} (${paths[0]!.what})`];
  return [
    head,
    ...(verdict.detail ? [`      ${verdict.detail}`] : []),
    ...paths.slice(0, SHOWN_PATHS).map((p) => `      ${p.path} (${p.what})`),
    ...(paths.length > SHOWN_PATHS ? [`      … and ${paths.length - SHOWN_PATHS} more paths`] : []),
  ];
}

function verdictEvent(verdict: Verdict): Record<string, unknown> {
  const { node } = verdict;
  return {
    type: 'verify',
    name: node.atom.name,
    version: node.atom.version,
    atom: formatAtom(node.atom),
    target: `${node.target.os}/${node.target.arch}`,
    id: verdict.id,
    result: verdict.result,
    baseline: verdict.baseline ?? null,
    paths: verdict.paths,
    ...(verdict.detail ? { detail: verdict.detail } : {}),
    ...(verdict.compressionOnly ? { compressionOnly: true } : {}),
  };
}

function countResults(verdicts: readonly Verdict[]): Partial<Record<VerdictResult, number>> {
  const counts: Partial<Record<VerdictResult, number>> = {};
  for (const v of verdicts) counts[v.result] = (counts[v.result] ?? 0) + 1;
  return counts;
}

function summary(
  result: VerifyReport,
  counts: Partial<Record<VerdictResult, number>>,
  rebuild: boolean,
): string {
  const n = result.verdicts.length;
  const parts = (Object.keys(MARKS) as VerdictResult[]).flatMap((r) =>
    counts[r] ? [`${counts[r]} ${r}`] : [],
  );
  const nothingRebuilt = rebuild && !result.rebuilt ? '; nothing was rebuilt' : '';
  return `${n} package${n === 1 ? '' : 's'}: ${parts.join(', ') || 'none'}${nothingRebuilt}.`;
}

/** What the verdicts mean for the exit code: one error (the gravest kind), naming every package at fault. */
function verifyFailure(result: VerifyReport, store: LocalStore, dir: string): BuilditError | undefined {
  const of = (r: VerdictResult) => result.verdicts.filter((v) => v.result === r);
  const [differs, corrupt, missing] = [of('differs'), of('corrupt'), of('missing')];
  const also = (skip: VerdictResult) =>
    (['differs', 'corrupt', 'missing'] as const)
      .filter((r) => r !== skip && of(r).length > 0)
      .map((r) => `${of(r).length} ${r}`);
  const tail = (skip: VerdictResult) => (also(skip).length ? ` (also ${also(skip).join(', ')})` : '');
  const plural = (list: readonly Verdict[]) => `${list.length} package${list.length === 1 ? '' : 's'}`;
  if (differs.length > 0) {
    const named = differs.map((v) => {
      const first = v.paths[0];
      const more = v.paths.length > 1 ? ` and ${v.paths.length - 1} more` : '';
      return first ? `${formatAtom(v.node.atom)} (${first.path}${more})` : formatAtom(v.node.atom);
    });
    const compressionOnly = differs.every((v) => v.compressionOnly);
    return new BuilditError(
      'BUILDIT_VERIFY_DIFFERS',
      `${plural(differs)} not reproducible: ${named.join(', ')}${tail('differs')}`,
      {
        exitCode: 1,
        hint: compressionOnly
          ? 'the tar inside is byte for byte the same, only its gzip compression differs: the baseline was packed by another zlib (another Node.js version?); the package itself is reproducible'
          : 'the recipe\'s output depends on the time, paths or randomness; SOURCE_DATE_EPOCH is set in the build environment (use it instead of the clock: date -d "@$SOURCE_DATE_EPOCH"), and sort anything listed from a folder',
      },
    );
  }
  if (corrupt.length > 0) {
    const records = corrupt
      .filter((v) => v.baseline === 'store')
      .map((v) => store.recordFile(v.node.target, v.id));
    return new BuilditError(
      'BUILDIT_VERIFY_CORRUPT',
      `${plural(corrupt)} damaged: ${corrupt.map((v) => formatAtom(v.node.atom)).join(', ')}${tail('corrupt')}`,
      {
        exitCode: 1,
        hint: records.length
          ? `the store's artifact no longer matches its digest (disk damage or a hand edit): remove ${records.join(' ')} and build again`
          : "a binhost serves an artifact that does not match its signed record: tell the binhost's owner",
      },
    );
  }
  if (missing.length > 0) {
    return new BuilditError(
      'BUILDIT_VERIFY_MISSING',
      `${plural(missing)} not built yet, nothing to compare: ${missing.map((v) => formatAtom(v.node.atom)).join(', ')}${tail('missing')}`,
      {
        exitCode: 1,
        hint: `build the container first (buildit ${dir}); verify compares with what the store or a binhost holds`,
      },
    );
  }
  return undefined;
}

function short(id: string): string {
  return `${id.slice(0, 8)}…`;
}
