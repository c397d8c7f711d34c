/**
 * From a container dir to its plan: resolve, compute identities, ask the
 * store. Shared by `buildit plan` and the build.
 */
import { resolveContainer, type ResolvedContainer } from '../container/resolve.ts';
import { computeIdentities, topoOrder, type Identity } from '../identity/identity.ts';
import type { PackageNode, Target } from '../recipe/types.ts';
import type { LocalStore } from '../store/store.ts';
import type { Workspace } from '../workspace.ts';
import type { BinhostLookup } from '../binhost/lookup.ts';
import { makePlan, type PlanEntry } from './plan.ts';

export interface Analysis {
  container: ResolvedContainer;
  toolchain: string;
  identities: Map<PackageNode, Identity>;
  plan: PlanEntry[];
  /** How container.yaml asked for each root package ('./pkgs/hello'). */
  labels: Map<PackageNode, string>;
}

export async function analyzeContainer(
  workspace: Workspace,
  options: { dir: string; overrides: Record<string, string>; host: Target; lookup?: BinhostLookup },
): Promise<Analysis> {
  const container = await resolveContainer({ ...options, repositories: workspace.repositories });
  const toolchain = await workspace.toolchain();
  const roots = container.packages.map((p) => p.node);
  const identities = computeIdentities(roots, toolchain);
  const order = topoOrder(roots);
  const inStore = await lookupStore(workspace.store, order, identities);
  const labels = new Map(container.packages.map((p) => [p.node, p.label]));
  const onBinhost = new Map<string, string>();
  if (options.lookup) {
    await Promise.all(
      order.map(async (node) => {
        const identity = identities.get(node);
        if (!identity?.known || inStore.has(identity.id)) return;
        const found = await options.lookup!.find(node.target, identity.id);
        if (found) onBinhost.set(identity.id, found.binhost.name);
      }),
    );
  }
  return { container, toolchain, identities, plan: makePlan(order, identities, inStore, onBinhost), labels };
}

async function lookupStore(
  store: LocalStore,
  nodes: readonly PackageNode[],
  identities: ReadonlyMap<PackageNode, Identity>,
): Promise<Set<string>> {
  const found = new Set<string>();
  await Promise.all(
    nodes.map(async (node) => {
      const identity = identities.get(node);
      if (identity?.known && (await store.hasRecord(node.target, identity.id))) found.add(identity.id);
    }),
  );
  return found;
}
