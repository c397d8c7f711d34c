/**
 * What every command that builds a container does first: resolve it, pin
 * remote patches (trust on first use), compute identities, and fold
 * definitions with one identity into one package.
 */
import { BuilditError } from '../errors.ts';
import type { ResolvedContainer } from '../container/resolve.ts';
import { checkFrozen, type LockContent } from '../container/lock.ts';
import { computeIdentities, topoOrder, type Identity } from '../identity/identity.ts';
import type { Preimage } from '../identity/preimage.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode, Target } from '../recipe/types.ts';
import type { Workspace } from '../workspace.ts';
import { fetchDistfile } from './fetch.ts';

export interface PrepareOptions {
  dir: string;
  overrides: Record<string, string>;
  host: Target;
  frozen: boolean;
  fetch?: typeof fetch;
}

export interface PreparedGraph {
  /** Every package node, dependencies first. */
  order: PackageNode[];
  identities: Map<PackageNode, { id: string; preimage: Preimage }>;
  idOf: Map<PackageNode, string>;
  /** One node per identity: two definitions with one identity are one package. */
  unique: PackageNode[];
  canonical(node: PackageNode): PackageNode;
  /** How the container names each of its packages; dependencies have no label. */
  labels: Map<PackageNode, string>;
  /** What container.lock should say (checked against --frozen, written by the caller). */
  lock: LockContent;
}

/** The container's package graph with identities; fails with --frozen if the lock would change. */
export async function prepareGraph(
  workspace: Workspace,
  container: ResolvedContainer,
  options: PrepareOptions,
): Promise<PreparedGraph> {
  const roots = container.packages.map((p) => p.node);
  const order = topoOrder(roots);
  const learned = await pinRemotePatches(workspace, order, options);
  const computed = computeIdentities(roots, await workspace.toolchain());
  const identities = new Map(order.map((node) => [node, known(computed.get(node)!, node)]));
  const labels = new Map(container.packages.map((p) => [p.node, p.label]));
  const idOf = new Map(order.map((node) => [node, identities.get(node)!.id]));
  const byId = new Map<string, PackageNode>();
  for (const node of order) if (!byId.has(idOf.get(node)!)) byId.set(idOf.get(node)!, node);
  const lock: LockContent = {
    distfiles: Object.fromEntries([...learned].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
    packages: order.map((node) => ({
      atom: formatAtom(node.atom),
      target: `${node.target.os}/${node.target.arch}`,
      id: idOf.get(node)!,
      from: labels.get(node) ?? 'dependency',
    })),
  };
  checkFrozen(container.lock, lock, options.frozen);
  return {
    order,
    identities,
    idOf,
    unique: [...byId.values()],
    canonical: (node) => byId.get(idOf.get(node)!)!,
    labels,
    lock,
  };
}

function known(identity: Identity, node: PackageNode): { id: string; preimage: Preimage } {
  if (identity.known) return identity;
  throw new BuilditError(
    'BUILDIT_IDENTITY_PENDING',
    `${formatAtom(node.atom)}: identity still pending (${identity.pending.join(', ')})`,
    { exitCode: 1 },
  );
}

/**
 * Remote patches without a sha256 are fetched before anything is built, and
 * their digest pinned (trust on first use, SPEC §2.5).
 */
async function pinRemotePatches(
  workspace: Workspace,
  nodes: readonly PackageNode[],
  options: PrepareOptions,
): Promise<Map<string, string>> {
  const learned = new Map<string, string>();
  for (const node of nodes) {
    // url sources are pinned by their recipe; the lock records them too, so it names every remote input.
    for (const source of node.sources) if (source.kind === 'url') learned.set(source.url, source.sha256);
    for (const patch of node.patches) {
      if (patch.kind !== 'url') continue;
      const sha256 =
        patch.sha256 ??
        (
          await fetchDistfile(
            workspace.store,
            patch.ref,
            undefined,
            options.fetch ? { fetch: options.fetch } : {},
          )
        ).hex;
      patch.sha256 = sha256;
      learned.set(patch.ref, sha256);
    }
  }
  return learned;
}
