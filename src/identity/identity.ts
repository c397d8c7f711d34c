/** Identities of a whole graph, bottom-up (a Merkle DAG over the pre-images). */
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode } from '../recipe/types.ts';
import { canonicalJson, sha256Hex } from './canonical.ts';
import { buildPreimage, type DepRef, type Preimage } from './preimage.ts';

export type Identity =
  | { known: true; id: string; preimage: Preimage }
  /** Some remote input has no sha256 yet (fetched on first build, then pinned in container.lock). */
  | { known: false; pending: string[] };

export function identityOf(preimage: Preimage): string {
  return sha256Hex(canonicalJson(preimage));
}

/** Compute every node's identity; the map is keyed by node. */
export function computeIdentities(
  roots: readonly PackageNode[],
  toolchain: string,
): Map<PackageNode, Identity> {
  const out = new Map<PackageNode, Identity>();
  const visit = (node: PackageNode): Identity => {
    const done = out.get(node);
    if (done) return done;
    const pending: string[] = [];
    const refs = (deps: readonly PackageNode[]): DepRef[] =>
      deps.flatMap((dep) => {
        const identity = visit(dep);
        if (!identity.known) {
          pending.push(...identity.pending);
          return [];
        }
        return [{ name: formatAtom(dep.atom), id: identity.id }];
      });
    const depIds = { build: refs(node.deps.build), run: refs(node.deps.run) };
    const built = buildPreimage(node, depIds, toolchain);
    const identity: Identity =
      'pending' in built || pending.length > 0
        ? { known: false, pending: [...new Set([...('pending' in built ? built.pending : []), ...pending])] }
        : { known: true, id: identityOf(built), preimage: built };
    out.set(node, identity);
    return identity;
  };
  for (const root of roots) visit(root);
  return out;
}

/** Every node reachable from the roots, dependencies before dependents, each once. */
export function topoOrder(roots: readonly PackageNode[]): PackageNode[] {
  const seen = new Set<PackageNode>();
  const order: PackageNode[] = [];
  const visit = (node: PackageNode) => {
    if (seen.has(node)) return;
    seen.add(node);
    for (const dep of [...node.deps.build, ...node.deps.run]) visit(dep);
    order.push(node);
  };
  for (const root of roots) visit(root);
  return order;
}
