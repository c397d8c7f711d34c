/**
 * The identity pre-image, `buildit-pkgid/v1` (SPEC §4): every input that
 * changes a build's output, and nothing descriptive. Pure.
 */
import type { PackageNode } from '../recipe/types.ts';

export const PKGID_SCHEMA = 'buildit-pkgid/v1';

export interface DepRef {
  name: string;
  id: string;
}

export interface Preimage {
  schema: typeof PKGID_SCHEMA;
  name: string;
  version: string;
  recipe: {
    sources: { kind: 'url' | 'file' | 'tree'; sha256: string; strip: number; filename?: string }[];
    build: string[];
    env: Record<string, string>;
    use: Record<string, { enable: string[]; disable: string[] }>;
    epoch: number;
  };
  patches: { sha256: string; strip: number }[];
  use: Record<string, boolean>;
  target: { os: string; arch: string };
  toolchain: string;
  deps: { build: DepRef[]; run: DepRef[] };
}

/**
 * Build the pre-image. Patch order is kept (it changes the result); deps are
 * a set, sorted, so listing them in another order changes nothing.
 * Returns the URLs whose sha256 is still unknown instead, if any.
 */
export function buildPreimage(
  node: PackageNode,
  depIds: { build: DepRef[]; run: DepRef[] },
  toolchain: string,
): Preimage | { pending: string[] } {
  const pending = node.patches.filter((p) => p.sha256 === undefined).map((p) => p.ref);
  if (pending.length > 0) return { pending };
  const byName = (a: DepRef, b: DepRef) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  return {
    schema: PKGID_SCHEMA,
    name: node.atom.name,
    version: node.atom.version,
    recipe: {
      sources: node.sources.map((s) => ({
        kind: s.kind === 'url' ? 'url' : s.type === 'dir' ? 'tree' : 'file',
        sha256: s.sha256,
        strip: s.strip,
        ...(s.kind === 'url' && s.filename !== undefined ? { filename: s.filename } : {}),
      })),
      build: [...node.recipe.build],
      env: { ...node.env },
      use: Object.fromEntries(
        node.flags.map((f) => [f.name, { enable: [...f.enable], disable: [...f.disable] }]),
      ),
      epoch: node.recipe.epoch,
    },
    patches: node.patches.map((p) => ({ sha256: p.sha256!, strip: p.strip })),
    use: { ...node.use },
    target: { os: node.target.os, arch: node.target.arch },
    toolchain,
    deps: { build: [...depIds.build].sort(byName), run: [...depIds.run].sort(byName) },
  };
}
