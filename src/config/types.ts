/** Typed forms of the four input files, as parsed (paths not yet resolved). */
import type { Atom } from '../recipe/atom.ts';
import type { SourceLocation } from '../errors.ts';
import type { RepositoryConfig } from './schema/config.ts';
import type { Path, TextOrigin } from './yaml.ts';

/** Locates a sub-path of the thing it belongs to, for later error messages. */
export interface Locator {
  (sub?: Path, part?: 'key' | 'value'): SourceLocation;
  /** Where the text of a scalar starts, for templates inside it. */
  text(sub: Path): TextOrigin;
}

export interface UseSelection {
  with: string[];
  without: string[];
  locate: Locator;
}

export interface DependsSpec {
  build: { atom: Atom; location: SourceLocation }[];
  run: { atom: Atom; location: SourceLocation }[];
}

export interface PatchSpec {
  kind: 'file' | 'url';
  /** A path relative to the file that names it, or a URL. */
  ref: string;
  description?: string;
  sha256?: string;
  strip: number;
  location: SourceLocation;
}

export interface SourceSpec {
  kind: 'url' | 'path';
  /** URL, or a path relative to the recipe file. */
  ref: string;
  sha256?: string;
  strip?: number;
  filename?: string;
  location: SourceLocation;
}

export interface FlagDeclaration {
  name: string;
  default: boolean;
  enable: string[];
  disable: string[];
  description?: string;
  depends: DependsSpec;
}

/** What a recipe says, whether from a recipe file or inline in pkg.yaml. */
export interface RecipeSpec {
  file: string;
  description?: string;
  homepage?: string;
  license?: string;
  sources: SourceSpec[];
  patches: PatchSpec[];
  flags: FlagDeclaration[];
  depends: DependsSpec;
  env: Record<string, string>;
  build: string[];
  epoch: number;
  locate: Locator;
}

export interface PackageDefSpec {
  file: string;
  base?: { atom: Atom; location: SourceLocation };
  /** The recipe, when it is written inline (no base). */
  inline?: RecipeSpec & { name: string; version: string; category: string };
  author?: string;
  description?: string;
  patches: PatchSpec[];
  use: UseSelection;
  depends: DependsSpec;
  env: Record<string, string>;
  locate: Locator;
}

export type Step =
  | { kind: 'vars'; vars: Record<string, string>; locate: Locator }
  | { kind: 'package'; type: 'embedded'; path: string; locate: Locator }
  | { kind: 'package'; type: 'recipe'; atom: Atom; use: UseSelection; locate: Locator }
  | {
      kind: 'sync';
      src: string;
      dest: string;
      recursive: boolean;
      mode?: number;
      owner: { uid: number; gid: number };
      locate: Locator;
    }
  | {
      kind: 'image';
      type: 'oci' | 'aci';
      content: string;
      name?: string;
      tag?: string;
      base?: string;
      push: string[];
      locate: Locator;
    };

export interface ContainerSpec {
  file: string;
  steps: Step[];
}

export interface BuilditConfig {
  /** The file it came from; undefined for the built-in defaults. */
  file?: string;
  repositories: RepositoryConfig[];
  discover: string[];
  recipes: string[];
  store?: string;
  trustedKeys: string[];
  signingKey?: string;
  output?: string;
  locate: Locator;
}
