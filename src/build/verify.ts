/**
 * `buildit verify <dir>`: is every package of the container where a build
 * would take it from, intact — and, with `rebuild`, would building it again
 * from source give the same bytes? A rebuild goes into a fresh store (in the
 * main store's tmp/, so a killed run is swept) that is removed at the end:
 * nothing built earlier, in the store or on a binhost, takes part in it, and
 * the main store gains no record. Reports verdicts as events; the CLI decides
 * how they look and what they mean for the exit code. What each package's
 * verdict is, verify-compare.ts says.
 */
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BinhostLookup } from '../binhost/lookup.ts';
import type { Binhosts } from '../binhost/setup.ts';
import { resolveContainer, type ResolvedContainer } from '../container/resolve.ts';
import { BuilditError } from '../errors.ts';
import type { PackageNode, Target } from '../recipe/types.ts';
import type { PackageRecord } from '../store/record.ts';
import { LocalStore } from '../store/store.ts';
import { limiter } from '../util/limit.ts';
import type { Workspace } from '../workspace.ts';
import { buildPackage } from './builder.ts';
import { distfilesOf } from './obtain.ts';
import { prepareGraph, type PreparedGraph } from './prepare.ts';
import { lazySandbox, type Sandbox, type SandboxMode } from './sandbox.ts';
import { runGraph } from './scheduler.ts';
import { failureReport, holdStore, installedForBuild } from './graph-build.ts';
import {
  baselineOf,
  checkBaseline,
  compare,
  verdictOf,
  type Baseline,
  type RebuildStores,
  type Verdict,
} from './verify-compare.ts';

export type VerifyEvent =
  | { type: 'start'; title: string; rebuild: boolean }
  | { type: 'rebuild'; node: PackageNode; id: string; phase: 'start' | 'done' }
  | { type: 'verdict'; verdict: Verdict }
  | { type: 'failed'; node: PackageNode; id: string; error: unknown }
  | { type: 'skipped'; node: PackageNode; id: string; cause: PackageNode }
  | { type: 'warning'; message: string };

export interface VerifyContainerOptions {
  dir: string;
  overrides: Record<string, string>;
  host: Target;
  rebuild: boolean;
  sandbox: SandboxMode;
  jobs: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Binhosts holding baselines for what the store lacks (none: the store only). */
  binhosts?: Binhosts;
}

export interface VerifyReport {
  container: ResolvedContainer;
  /** One per package (identity), dependencies first. */
  verdicts: Verdict[];
  /** Whether packages were rebuilt (not without rebuild, nor when some had no baseline). */
  rebuilt: boolean;
}

export async function verifyContainer(
  workspace: Workspace,
  options: VerifyContainerOptions,
  on: (event: VerifyEvent) => void,
): Promise<VerifyReport> {
  const { store } = workspace;
  const container = await resolveContainer({ ...options, repositories: workspace.repositories });
  const sandbox = lazySandbox(options.sandbox);
  if (options.rebuild) await sandbox(); // every package is built: say now if the sandbox cannot work
  on({ type: 'start', title: container.title, rebuild: options.rebuild });
  const warn = (message: string) => on({ type: 'warning', message });
  // gc must not remove the baselines and distfiles while they are read (no root is written).
  await store.init();
  const hold = await holdStore(store, container, {
    ...(options.signal ? { signal: options.signal } : {}),
    warn,
  });
  try {
    // Not frozen, and the lock is not written: verify reads what a build left behind.
    const graph = await prepareGraph(workspace, container, { ...options, frozen: false });
    await hold.resolved(graph);
    return await verifyGraph(workspace, { container, graph, sandbox }, options, on);
  } finally {
    await hold.finish(false);
  }
}

/** Each package's verdict: its baseline checked, or (--rebuild) rebuilt and compared. */
async function verifyGraph(
  workspace: Workspace,
  run: { container: ResolvedContainer; graph: PreparedGraph; sandbox: () => Promise<Sandbox> },
  options: VerifyContainerOptions,
  on: (event: VerifyEvent) => void,
): Promise<VerifyReport> {
  const { store } = workspace;
  const { container, graph, sandbox } = run;
  const warn = (message: string) => on({ type: 'warning', message });
  const lookup = new BinhostLookup(options.binhosts?.lookup ?? [], { warn });
  const baselines = new Map<PackageNode, Baseline | undefined>();
  await Promise.all(
    graph.unique.map(async (node) => baselines.set(node, await baselineOf(store, lookup, node, graph))),
  );

  const verdicts = new Map<PackageNode, Verdict>();
  const decide = (verdict: Verdict) => {
    verdicts.set(verdict.node, verdict);
    on({ type: 'verdict', verdict });
  };
  const missing = graph.unique.filter((node) => !baselines.get(node));
  const inGraphOrder = () => graph.unique.flatMap((node) => verdicts.get(node) ?? []);
  if (!options.rebuild || missing.length > 0) {
    // Without baselines there is nothing to compare a rebuild with: say so before building anything.
    const check = limiter(4);
    const checked = await Promise.all(
      graph.unique.map((node) =>
        check(async () => {
          const baseline = baselines.get(node);
          if (!baseline) return verdictOf(node, graph, 'missing', undefined);
          return options.rebuild ? undefined : await checkBaseline(store, node, graph, baseline);
        }),
      ),
    );
    // Reported in graph order, not as the hashing finishes: the same store gives the same output.
    for (const verdict of checked) if (verdict) decide(verdict);
    return { container, verdicts: inGraphOrder(), rebuilt: false };
  }

  const scratch = await store.tempDir('verify');
  try {
    const fresh = new LocalStore(scratch);
    await fresh.init();
    await rebuildAll({ store, fresh, lookup, graph, baselines, sandbox, options, on, warn }, decide);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { container, verdicts: inGraphOrder(), rebuilt: true };
}

interface RebuildRun extends RebuildStores {
  lookup: BinhostLookup;
  baselines: ReadonlyMap<PackageNode, Baseline | undefined>;
  sandbox: () => Promise<Sandbox>;
  options: VerifyContainerOptions;
  on: (event: VerifyEvent) => void;
  warn: (message: string) => void;
}

/** Every package from source into the fresh store, dependencies first; each compared as it finishes. */
async function rebuildAll(run: RebuildRun, decide: (verdict: Verdict) => void): Promise<void> {
  const { store, fresh, graph, options, on } = run;
  const rebuilt = new Map<string, PackageRecord>();
  const outcome = await runGraph(
    graph.unique,
    (node) => [...node.deps.build, ...node.deps.run].map(graph.canonical),
    options.jobs,
    async (node) => {
      const identity = graph.identities.get(node)!;
      const { id } = identity;
      on({ type: 'rebuild', node, id, phase: 'start' });
      let record: PackageRecord;
      try {
        await seedDistfiles(node, run);
        record = (
          await buildPackage(node, identity, {
            store: fresh,
            sandbox: run.sandbox,
            jobs: options.jobs,
            buildDeps: installedForBuild(node, graph.idOf, rebuilt),
            ...(options.fetch ? { fetch: options.fetch } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
          })
        ).record;
      } catch (error) {
        const kept = await keepFailedLog(error, fresh, store, id);
        on({ type: 'failed', node, id, error: kept });
        throw kept;
      }
      rebuilt.set(id, record);
      on({ type: 'rebuild', node, id, phase: 'done' });
      decide(await compare(node, run.baselines.get(node)!, record, run, options.signal));
    },
  );
  if (outcome.failed.size === 0) return;
  for (const [node, cause] of outcome.skipped)
    on({ type: 'skipped', node, id: graph.idOf.get(node)!, cause });
  throw failureReport(outcome, {
    verb: 'rebuilt',
    hint: 'a package that does not build from source cannot be verified; fix the failure above',
  });
}

/**
 * Url sources and remote patches, by sha256: from the main store (copied
 * through the fresh store's putBlob, so they are verified, not trusted), else
 * from binhosts as a build would; what neither has, the build fetches upstream.
 */
async function seedDistfiles(node: PackageNode, run: RebuildRun): Promise<void> {
  const { store, fresh } = run;
  for (const hex of distfilesOf(node)) {
    if (await fresh.hasBlob(hex)) continue;
    if (await store.hasBlob(hex)) {
      try {
        await fresh.putBlob(store.openBlob(hex), { hex, what: `distfile ${hex} in the store` });
        continue;
      } catch (error) {
        if (!(error instanceof BuilditError && error.code === 'BUILDIT_FETCH_SHA256')) throw error;
        run.warn(`the store's distfile ${hex} is damaged (${error.message}); fetching it again`);
      }
    }
    for (const binhost of run.lookup.binhostList) {
      try {
        if (await binhost.fetchBlob(fresh, hex, `distfile ${hex}`, run.options.signal)) break;
      } catch (error) {
        if (!(error instanceof BuilditError)) throw error;
        run.warn(`binhost '${binhost.name}': distfile ${hex}: ${error.message}`);
      }
    }
  }
}

/**
 * A failed rebuild's log would go with the fresh store: it is kept in the
 * main store's logs/verify/ (beside, never over, the log of the build that
 * made the baseline), and the error's hint names it there.
 */
async function keepFailedLog(
  error: unknown,
  fresh: LocalStore,
  store: LocalStore,
  id: string,
): Promise<unknown> {
  if (!(error instanceof BuilditError) || error.code !== 'BUILDIT_BUILD_FAILED') return error;
  const kept = path.join(store.root, 'logs', 'verify', `${id}.log`);
  try {
    await mkdir(path.dirname(kept), { recursive: true });
    await copyFile(fresh.logFile(id), kept);
  } catch {
    return error; // the failure itself matters more than where its log is
  }
  return new BuilditError(error.code, error.message, {
    exitCode: error.exitCode,
    cause: error,
    ...(error.location ? { location: error.location } : {}),
    ...(error.hint ? { hint: error.hint.split(fresh.logFile(id)).join(kept) } : {}),
  });
}
