/** What builds over a package graph share: installing build dependencies, and reporting failures. */
import { BuilditError, BuilditErrors } from '../errors.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode } from '../recipe/types.ts';
import { artifactHex, type PackageRecord } from '../store/record.ts';
import type { GraphOutcome } from './scheduler.ts';

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
