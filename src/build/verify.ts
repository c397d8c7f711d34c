/**
 * `buildit verify <dir>`: is every package of the container where a build
 * would take it from, intact — and, with `rebuild`, would building it again
 * from source give the same bytes? A rebuild goes into a fresh store (in the
 * main store's tmp/, so a killed run is swept) that is removed at the end:
 * nothing built earlier, in the store or on a binhost, takes part in it, and
 * the main store gains no record. Reports verdicts as events; the CLI decides
 * how they look and what they mean for the exit code.
 */
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BinhostLookup } from '../binhost/lookup.ts';
import type { RemoteBinhost } from '../binhost/remote.ts';
import type { Binhosts } from '../binhost/setup.ts';
import { BinhostError } from '../binhost/types.ts';
import { resolveContainer, type ResolvedContainer } from '../container/resolve.ts';
import { BuilditError } from '../errors.ts';
import { diffArtifacts, type PathDifference } from '../image/artifact-diff.ts';
import type { PackageNode, Target } from '../recipe/types.ts';
import { blobPath } from '../store/layout.ts';
import type { PackageRecord } from '../store/record.ts';
import { LocalStore } from '../store/store.ts';
import { limiter } from '../util/limit.ts';
import type { Workspace } from '../workspace.ts';
import { buildPackage, storedRecord } from './builder.ts';
import { distfilesOf } from './obtain.ts';
import { prepareGraph, type PreparedGraph } from './prepare.ts';
import { resolveSandbox, type Sandbox, type SandboxMode } from './sandbox.ts';
import { runGraph } from './scheduler.ts';
import { failureReport, installedForBuild } from './graph-build.ts';

/**
 * same / differs: a rebuild's artifact against the baseline's. intact /
 * corrupt: the store's artifact against its record's digest. missing: neither
 * the store nor a binhost has the package (or the binhost lacks its artifact).
 */
export type VerdictResult = 'same' | 'differs' | 'intact' | 'corrupt' | 'missing';

export interface Verdict {
  node: PackageNode;
  id: string;
  label: string;
  result: VerdictResult;
  /** 'store', or the name of the binhost whose record is compared with; undefined when missing. */
  baseline: string | undefined;
  /** For 'differs': the paths inside the artifact whose entries differ. */
  paths: PathDifference[];
  /** A sentence for what paths cannot say (compression only, a baseline that could not be read). */
  detail?: string;
  /** 'differs' with the same uncompressed tar: only the gzip bytes differ. */
  compressionOnly?: boolean;
}

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

type Baseline =
  | { where: 'store'; record: PackageRecord }
  | { where: 'binhost'; record: PackageRecord; binhost: RemoteBinhost };

export async function verifyContainer(
  workspace: Workspace,
  options: VerifyContainerOptions,
  on: (event: VerifyEvent) => void,
): Promise<VerifyReport> {
  const { store } = workspace;
  const container = await resolveContainer({ ...options, repositories: workspace.repositories });
  const sandbox = options.rebuild ? await resolveSandbox(options.sandbox) : undefined;
  on({ type: 'start', title: container.title, rebuild: options.rebuild });
  // Not frozen, and the lock is not written: verify reads what a build left behind.
  const graph = await prepareGraph(workspace, container, { ...options, frozen: false });
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

  await store.init();
  const scratch = await store.tempDir('verify');
  try {
    const fresh = new LocalStore(scratch);
    await fresh.init();
    await rebuildAll(
      { store, fresh, lookup, graph, baselines, sandbox: sandbox!, options, on, warn },
      decide,
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
  return { container, verdicts: inGraphOrder(), rebuilt: true };
}

interface RebuildRun {
  store: LocalStore;
  fresh: LocalStore;
  lookup: BinhostLookup;
  graph: PreparedGraph;
  baselines: ReadonlyMap<PackageNode, Baseline | undefined>;
  sandbox: Sandbox;
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
      decide(await compare(node, run, record));
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

/** The store's record (its artifact present), else the first binhost's verified record. */
async function baselineOf(
  store: LocalStore,
  lookup: BinhostLookup,
  node: PackageNode,
  graph: PreparedGraph,
): Promise<Baseline | undefined> {
  const id = graph.idOf.get(node)!;
  const stored = await storedRecord(store, node, id);
  if (stored) return { where: 'store', record: stored };
  const found = await lookup.find(node.target, id);
  return found ? { where: 'binhost', record: found.record, binhost: found.binhost } : undefined;
}

/** Without a rebuild: the store's artifact hashes to its digest; a binhost's artifact is there. */
async function checkBaseline(
  store: LocalStore,
  node: PackageNode,
  graph: PreparedGraph,
  baseline: Baseline,
): Promise<Verdict> {
  const hex = hexOf(baseline.record);
  if (baseline.where === 'store') {
    if (await store.verifyBlob(hex)) return verdictOf(node, graph, 'intact', 'store');
    return verdictOf(node, graph, 'corrupt', 'store', {
      detail: `the store's artifact ${store.blobFile(hex)} does not hash to ${baseline.record.artifact.digest}`,
    });
  }
  const { binhost } = baseline;
  try {
    // Its bytes are checked against the digest when a build fetches them; here, that they exist.
    if (await binhost.backend.has(blobPath(hex))) return verdictOf(node, graph, 'intact', binhost.name);
    return verdictOf(node, graph, 'missing', binhost.name, {
      detail: `binhost '${binhost.name}' has its record but not its artifact`,
    });
  } catch (error) {
    if (!(error instanceof BinhostError)) throw error;
    return verdictOf(node, graph, 'missing', binhost.name, {
      detail: `binhost '${binhost.name}': ${error.message}`,
    });
  }
}

/** The rebuilt artifact against the baseline: same digest, or which paths differ and how. */
async function compare(node: PackageNode, run: RebuildRun, record: PackageRecord): Promise<Verdict> {
  const { store, fresh, graph } = run;
  const baseline = run.baselines.get(node)!;
  const where = baseline.where === 'store' ? 'store' : baseline.binhost.name;
  const baseHex = hexOf(baseline.record);
  if (baseline.where === 'store' && !(await store.verifyBlob(baseHex))) {
    const matches = record.artifact.digest === baseline.record.artifact.digest;
    return verdictOf(node, graph, 'corrupt', where, {
      detail: `the store's artifact ${store.blobFile(baseHex)} does not hash to ${baseline.record.artifact.digest}; the rebuild ${matches ? 'matches' : 'does not match'} the record`,
    });
  }
  if (record.artifact.digest === baseline.record.artifact.digest)
    return verdictOf(node, graph, 'same', where);

  let baseFile = store.blobFile(baseHex);
  if (baseline.where === 'binhost') {
    try {
      const what = `artifact of ${record.id}`;
      if (!(await baseline.binhost.fetchBlob(fresh, baseHex, what, run.options.signal))) {
        return verdictOf(node, graph, 'missing', where, {
          detail: `binhost '${where}' has its record but not its artifact`,
        });
      }
      baseFile = fresh.blobFile(baseHex);
    } catch (error) {
      if (!(error instanceof BuilditError)) throw error;
      const result = error.code === 'BUILDIT_FETCH_SHA256' ? 'corrupt' : 'differs';
      return verdictOf(node, graph, result, where, {
        detail: `its artifact could not be fetched: ${error.message}`,
      });
    }
  }
  try {
    const diff = await diffArtifacts(
      {
        name: 'baseline',
        what: `${where} artifact ${baseline.record.artifact.digest}`,
        open: () => createReadStream(baseFile),
      },
      {
        name: 'rebuild',
        what: `rebuilt artifact ${record.artifact.digest}`,
        open: () => fresh.openBlob(hexOf(record)),
      },
    );
    const compressionOnly = diff.sameEntries && record.artifact.diffId === baseline.record.artifact.diffId;
    const detail = compressionOnly
      ? 'the same tar, compressed differently (the gzip bytes differ)'
      : diff.sameEntries
        ? 'the same entries, but the tar bytes differ (headers the comparison does not show)'
        : diff.orderDiffers
          ? 'the entries are in another order'
          : undefined;
    return {
      ...verdictOf(node, graph, 'differs', where, { paths: diff.paths, ...(detail ? { detail } : {}) }),
      ...(compressionOnly ? { compressionOnly } : {}),
    };
  } catch (error) {
    // A baseline that is no readable artifact still differs: say why it could not be compared.
    const message = error instanceof Error ? error.message : String(error);
    return verdictOf(node, graph, 'differs', where, {
      detail: `the artifacts could not be compared: ${message}`,
    });
  }
}

function verdictOf(
  node: PackageNode,
  graph: PreparedGraph,
  result: VerdictResult,
  baseline: string | undefined,
  extra: { paths?: PathDifference[]; detail?: string } = {},
): Verdict {
  return {
    node,
    id: graph.idOf.get(node)!,
    label: graph.labels.get(node) ?? 'dependency',
    result,
    baseline,
    paths: extra.paths ?? [],
    ...(extra.detail ? { detail: extra.detail } : {}),
  };
}

function hexOf(record: PackageRecord): string {
  return record.artifact.digest.replace(/^sha256:/, '');
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
