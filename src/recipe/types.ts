/** The resolved package graph: what identities are computed from and builds run on. */
import type { FlagDeclaration, RecipeSpec } from '../config/types.ts';
import type { SourceLocation } from '../errors.ts';
import type { Atom } from './atom.ts';

export interface Target {
  os: string;
  arch: string;
}

export type ResolvedSource =
  | { kind: 'url'; url: string; sha256: string; strip: number; filename?: string; location: SourceLocation }
  /** A folder (digest of its deterministic tar) or a tarball (sha256 of its bytes) beside the recipe. */
  | {
      kind: 'path';
      path: string;
      type: 'dir' | 'file';
      sha256: string;
      strip: number;
      location: SourceLocation;
    };

export interface ResolvedPatch {
  kind: 'file' | 'url';
  /** Absolute path of a local patch, or the URL of a remote one. */
  ref: string;
  /** Unknown for a remote patch not yet fetched and not in container.lock. */
  sha256: string | undefined;
  strip: number;
  description?: string;
  /** Who added it (the package definition's author:); the patch's own mail header wins when it has one. */
  author?: string;
  location: SourceLocation;
}

export type PackageOrigin =
  { kind: 'embedded'; dir: string; file: string } | { kind: 'recipe'; file: string };

export interface PackageNode {
  /** Distinguishes definitions before identities are known. */
  key: string;
  atom: Atom;
  origin: PackageOrigin;
  recipe: RecipeSpec;
  sources: ResolvedSource[];
  /** The recipe's patches, then the package's, in the order they are applied. */
  patches: ResolvedPatch[];
  flags: FlagDeclaration[];
  use: Record<string, boolean>;
  env: Record<string, string>;
  target: Target;
  deps: { build: PackageNode[]; run: PackageNode[] };
  metadata: {
    author?: string;
    description?: string;
    homepage?: string;
    license?: string;
  };
  /** Where the container (or a dependent) asked for it. */
  requestedAt: SourceLocation;
}
