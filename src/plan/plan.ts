/**
 * The plan: for every package of a container, dependencies first, where it
 * will come from. Pure: identities and lookup answers in, data out.
 */
import type { Identity } from '../identity/identity.ts';
import type { PackageNode } from '../recipe/types.ts';

export type PackageSource = 'store' | 'build';

export interface PlanEntry {
  node: PackageNode;
  identity: Identity;
  source: PackageSource;
}

export function makePlan(
  order: readonly PackageNode[],
  identities: ReadonlyMap<PackageNode, Identity>,
  inStore: ReadonlySet<string>,
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
    entries.push({ node, identity, source: identity.known && inStore.has(identity.id) ? 'store' : 'build' });
  }
  return entries;
}
