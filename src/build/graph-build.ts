/**
 * What builds over a package graph share (`buildit build` and `verify --rebuild`): holding the
 * store against gc, installing build dependencies, and reporting failures.
 */
import path from 'node:path';
import type { ResolvedContainer } from '../container/resolve.ts';
import { BuilditError, BuilditErrors } from '../errors.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode } from '../recipe/types.ts';
import { artifactHex, type PackageRecord } from '../store/record.ts';
import { beginUse, type UseHandle } from '../store/roots.ts';
import type { LocalStore } from '../store/store.ts';
import { distfilesOf } from './obtain.ts';
import type { PreparedGraph } from './prepare.ts';
import type { GraphOutcome } from './scheduler.ts';

export interface StoreHold {
  /** The graph is resolved: gc keeps its packages and distfiles from now on. */
  resolved(graph: PreparedGraph): Promise<void>;
  /** Store blobs the images are made of besides packages (base image layers): kept too, and in the root. */
  keepBlobs(hexes: readonly string[]): Promise<void>;
  /** Done; a successful build (`root: true`) is remembered as a root. */
  finish(root: boolean): Promise<void>;
}

/**
 * Marks the store in use by a run over `container`, before it resolves the container (resolving
 * may pin remote patches into the store): gc keeps what the run writes or names (store/roots.ts).
 * Waits, saying so once, while a gc runs.
 */
export async function holdStore(
  store: LocalStore,
  container: ResolvedContainer,
  options: { signal?: AbortSignal; warn: (message: string) => void },
): Promise<StoreHold> {
  const use: UseHandle = await beginUse(
    store,
    {
      container: container.dir,
      name: container.vars['name'] ?? path.basename(container.dir),
      version: container.vars['version'] ?? 'latest',
      packages: [],
      distfiles: [],
    },
    {
      ...(options.signal ? { signal: options.signal } : {}),
      onWait: () => options.warn('waiting for buildit gc to finish with the store'),
    },
  );
  const blobs = new Set<string>();
  return {
    keepBlobs: async (hexes) => {
      const before = blobs.size;
      for (const hex of hexes) blobs.add(hex);
      if (blobs.size > before) await use.update({ blobs: [...blobs] });
    },
    resolved: (graph) =>
      use.update({
        packages: graph.unique.map((node) => ({ target: node.target, id: graph.idOf.get(node)! })),
        distfiles: [
          ...new Set([...graph.unique.flatMap(distfilesOf), ...Object.values(graph.lock.distfiles)]),
        ],
      }),
    finish: (root) => use.finish(root),
  };
}

/** A build dependency's artifact and, transitively, its run dependencies' (each once). */
export function installedForBuild(
  node: PackageNode,
  idOf: ReadonlyMap<PackageNode, string>,
  records: ReadonlyMap<string, PackageRecord>,
): { atom: string; hex: string }[] {
  const out = new Map<string, { atom: string; hex: string }>();
  const add = (dep: PackageNode) => {
    const id = idOf.get(dep)!;
    if (out.has(id)) return;
    out.set(id, {
      atom: formatAtom(dep.atom),
      hex: artifactHex(records.get(id)!),
    });
    for (const run of dep.deps.run) add(run);
  };
  for (const dep of node.deps.build) add(dep);
  return [...out.values()];
}

/** Every failure together, and which packages were not attempted because of them (exit 1 unless input was at fault). */
export function failureReport(
  outcome: GraphOutcome<PackageNode>,
  skippedAs: { verb: string; hint: string },
): Error {
  const errors: BuilditError[] = [];
  for (const [node, error] of outcome.failed) {
    if (error instanceof BuilditErrors) errors.push(...error.errors);
    else if (error instanceof BuilditError) errors.push(error);
    else return error instanceof Error ? error : new Error(`${formatAtom(node.atom)}: ${String(error)}`);
  }
  if (outcome.skipped.size > 0) {
    const lines = [...outcome.skipped].map(
      ([node, cause]) => `${formatAtom(node.atom)} (needs ${formatAtom(cause.atom)})`,
    );
    errors.push(
      new BuilditError(
        'BUILDIT_BUILD_SKIPPED',
        `not ${skippedAs.verb} because a dependency failed: ${lines.join(', ')}`,
        {
          exitCode: 1,
          hint: skippedAs.hint,
        },
      ),
    );
  }
  return errors.length === 1 ? errors[0]! : new BuilditErrors(errors);
}
