/**
 * The plan: for every package of a container, dependencies first, where it
 * will come from. Pure: identities and lookup answers in, data out.
 */
import type { Identity } from '../identity/identity.ts';
import type { PackageNode } from '../recipe/types.ts';

export type PackageSource = 'store' | 'binhost' | 'build';

export interface PlanEntry {
  node: PackageNode;
  identity: Identity;
  source: PackageSource;
  /** The binhost that has it, when source is 'binhost'. */
  binhost?: string;
}

export function makePlan(
  order: readonly PackageNode[],
  identities: ReadonlyMap<PackageNode, Identity>,
  inStore: ReadonlySet<string>,
  onBinhost: ReadonlyMap<string, string> = new Map(),
): PlanEntry[] {
  const seen = new Set<string>();
  const entries: PlanEntry[] = [];
  for (const node of order) {
    const identity = identities.get(node)!;
    // Two definitions with one identity are one package.
    if (identity.known) {
      if (seen.has(identity.id)) continue;
      seen.add(identity.id);
    }
    const id = identity.known ? identity.id : undefined;
    const binhost = id === undefined ? undefined : onBinhost.get(id);
    if (id !== undefined && inStore.has(id)) entries.push({ node, identity, source: 'store' });
    else if (binhost !== undefined) entries.push({ node, identity, source: 'binhost', binhost });
    else entries.push({ node, identity, source: 'build' });
  }
  return entries;
}
