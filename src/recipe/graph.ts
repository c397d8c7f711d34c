/**
 * Resolve package definitions and atoms into the package graph: recipes
 * found, flags applied, dependencies followed (a cycle is an error that
 * prints it), local inputs digested. Every problem is collected.
 */
import path from 'node:path';
import { BuilditError, Problems, type SourceLocation } from '../errors.ts';
import { loadPackageDef } from '../config/load.ts';
import type {
  DependsSpec,
  PackageDefSpec,
  PatchSpec,
  RecipeSpec,
  SourceSpec,
  UseSelection,
} from '../config/types.ts';
import { treeDigest } from '../image/tree.ts';
import { resolveInside, sha256File, statIfExists } from '../util/fs.ts';
import { formatAtom, type Atom } from './atom.ts';
import type { RecipeRepositories } from './repository.ts';
import type { PackageNode, ResolvedPatch, ResolvedSource, Target } from './types.ts';
import { effectiveUse } from './use.ts';

export interface GraphOptions {
  repositories: RecipeRepositories;
  /** sha256 of remote inputs learned earlier (container.lock), by URL. */
  pinned: ReadonlyMap<string, string>;
}

export class GraphResolver {
  readonly problems = new Problems();
  private readonly nodes = new Map<string, Promise<PackageNode | undefined>>();
  private readonly digests = new Map<string, Promise<string>>();
  private readonly options: GraphOptions;

  constructor(options: GraphOptions) {
    this.options = options;
  }

  /** A package folder with pkg.yaml, whose files must stay inside `root`. */
  async embedded(
    dir: string,
    root: string,
    target: Target,
    from: SourceLocation,
  ): Promise<PackageNode | undefined> {
    const where = await resolveInside(root, root, dir);
    if (!where.inside) {
      this.problems.add(
        new BuilditError('BUILDIT_PATH_ESCAPE', `package path ${dir} leads outside the container dir`, {
          location: from,
          hint: `package folders live inside ${root}`,
        }),
      );
      return undefined;
    }
    const def = await this.problems.captureAsync(() => loadPackageDef(where.path, from));
    if (!def) return undefined;
    const key = `embedded:${where.path}|${target.os}/${target.arch}`;
    return this.once(key, [], async () => {
      const base = def.base
        ? await this.problems.captureAsync(() => this.recipe(def.base!.atom, def.base!.location))
        : undefined;
      if (def.base && !base) return undefined;
      const atom = base
        ? base.atom
        : { category: def.inline!.category, name: def.inline!.name, version: def.inline!.version };
      const recipe = base ? base.recipe : def.inline!;
      return this.node({
        key,
        atom,
        origin: { kind: 'embedded', dir: where.path, file: def.file },
        recipe,
        recipeRoot: base ? base.root : root,
        def,
        defRoot: root,
        target,
        from,
        stack: [],
      });
    });
  }

  /** An unmodified recipe, with an optional flag selection. */
  async atom(
    atom: Atom,
    target: Target,
    from: SourceLocation,
    use?: UseSelection,
    stack: readonly string[] = [],
  ): Promise<PackageNode | undefined> {
    const text = formatAtom(atom);
    // An empty selection is the recipe as it stands: the same package as a dependency on it.
    const selection =
      use && (use.with.length || use.without.length)
        ? `|+${use.with.join(',')}-${use.without.join(',')}`
        : '';
    const key = `recipe:${text}${selection}|${target.os}/${target.arch}`;
    if (stack.includes(key)) {
      const cycle = [...stack.slice(stack.indexOf(key)), key].map(
        (k) => k.slice('recipe:'.length).split('|')[0],
      );
      this.problems.add(
        new BuilditError('BUILDIT_DEP_CYCLE', `dependency cycle: ${cycle.join(' → ')}`, {
          location: from,
          hint: 'a package cannot depend on itself, directly or through others; remove one of these dependencies',
        }),
      );
      return undefined;
    }
    return this.once(key, stack, async () => {
      const found = await this.problems.captureAsync(() => this.recipe(atom, from));
      if (!found) return undefined;
      return this.node({
        key,
        atom,
        origin: { kind: 'recipe', file: found.recipe.file },
        recipe: found.recipe,
        recipeRoot: found.root,
        ...(use ? { use } : {}),
        target,
        from,
        stack: [...stack, key],
      });
    });
  }

  private async recipe(atom: Atom, from: SourceLocation) {
    const found = await this.options.repositories.find(atom);
    if (!found) throw await this.options.repositories.unknownAtomError(atom, from);
    return found;
  }

  private once(
    key: string,
    _stack: readonly string[],
    make: () => Promise<PackageNode | undefined>,
  ): Promise<PackageNode | undefined> {
    let node = this.nodes.get(key);
    if (!node) {
      node = make();
      this.nodes.set(key, node);
    }
    return node;
  }

  private async node(input: {
    key: string;
    atom: Atom;
    origin: PackageNode['origin'];
    recipe: RecipeSpec;
    recipeRoot: string;
    def?: PackageDefSpec;
    defRoot?: string;
    use?: UseSelection;
    target: Target;
    from: SourceLocation;
    stack: readonly string[];
  }): Promise<PackageNode | undefined> {
    const { recipe, def, atom, target } = input;
    const owner = formatAtom(atom);
    const before = this.problems.list.length;
    const use = effectiveUse(recipe.flags, def?.use ?? input.use, owner, this.problems);
    const sources = await this.sources(recipe.sources, recipe.file, input.recipeRoot);
    const patches = [
      ...(await this.patches(def?.inline ? [] : recipe.patches, recipe.file, input.recipeRoot)),
      ...(def ? await this.patches(def.patches, def.file, input.defRoot!, def.author) : []),
    ];
    const depends = mergeDepends([
      recipe.depends,
      ...recipe.flags.filter((f) => use[f.name]).map((f) => f.depends),
      ...(def ? [def.depends] : []),
    ]);
    const deps = { build: [] as PackageNode[], run: [] as PackageNode[] };
    for (const kind of ['build', 'run'] as const) {
      for (const dep of depends[kind]) {
        const node = await this.atom(dep.atom, target, dep.location, undefined, input.stack);
        if (node) deps[kind].push(node);
      }
    }
    if (this.problems.list.length > before) return undefined;
    const metadata = {
      ...(def?.author === undefined ? {} : { author: def.author }),
      ...((def?.description ?? recipe.description) === undefined
        ? {}
        : { description: (def?.description ?? recipe.description)! }),
      ...(recipe.homepage === undefined ? {} : { homepage: recipe.homepage }),
      ...(recipe.license === undefined ? {} : { license: recipe.license }),
    };
    return {
      key: input.key,
      atom,
      origin: input.origin,
      recipe,
      sources,
      patches,
      flags: recipe.flags,
      use,
      env: { ...recipe.env, ...(def?.env ?? {}) },
      target,
      deps,
      metadata,
      requestedAt: input.from,
    };
  }

  private async sources(specs: readonly SourceSpec[], file: string, root: string): Promise<ResolvedSource[]> {
    const out: ResolvedSource[] = [];
    for (const spec of specs) {
      if (spec.kind === 'url') {
        out.push({
          kind: 'url',
          url: spec.ref,
          sha256: spec.sha256!,
          strip: spec.strip ?? 1,
          ...(spec.filename === undefined ? {} : { filename: spec.filename }),
          location: spec.location,
        });
        continue;
      }
      const local = await this.local(spec.ref, file, root, spec.location, 'source');
      if (!local) continue;
      const info = await statIfExists(local);
      const type = info?.isDirectory() ? 'dir' : 'file';
      const sha256 = await this.digest(local, type);
      out.push({
        kind: 'path',
        path: local,
        type,
        sha256,
        strip: spec.strip ?? (type === 'dir' ? 0 : 1),
        location: spec.location,
      });
    }
    return out;
  }

  /** `author`: who added the patches (a package definition's author:), for patches that do not name one. */
  private async patches(
    specs: readonly PatchSpec[],
    file: string,
    root: string,
    author?: string,
  ): Promise<ResolvedPatch[]> {
    const out: ResolvedPatch[] = [];
    for (const spec of specs) {
      const described = {
        ...(spec.description === undefined ? {} : { description: spec.description }),
        ...(author === undefined ? {} : { author }),
      };
      if (spec.kind === 'url') {
        const pinned = spec.sha256 ?? this.options.pinned.get(spec.ref);
        out.push({
          kind: 'url',
          ref: spec.ref,
          sha256: pinned,
          strip: spec.strip,
          ...described,
          location: spec.location,
        });
        continue;
      }
      const local = await this.local(spec.ref, file, root, spec.location, 'patch');
      if (!local) continue;
      if (!(await statIfExists(local))?.isFile()) {
        this.problems.add(
          new BuilditError('BUILDIT_PATCH_MISSING', `patch ${spec.ref} is not a file`, {
            location: spec.location,
            hint: 'a patch is one unified diff file',
          }),
        );
        continue;
      }
      const sha256 = await this.digest(local, 'file');
      if (spec.sha256 && spec.sha256 !== sha256) {
        this.problems.add(
          new BuilditError(
            'BUILDIT_PATCH_SHA256',
            `patch ${spec.ref} has sha256 ${sha256}, not ${spec.sha256} as written`,
            {
              location: spec.location,
              hint: 'update sha256: or restore the patch file',
            },
          ),
        );
        continue;
      }
      out.push({
        kind: 'file',
        ref: local,
        sha256,
        strip: spec.strip,
        ...described,
        location: spec.location,
      });
    }
    return out;
  }

  /** A file named relative to `file` that must exist and stay inside `root`. */
  private async local(
    ref: string,
    file: string,
    root: string,
    location: SourceLocation,
    what: 'patch' | 'source',
  ) {
    const where = await resolveInside(root, path.dirname(file), ref);
    if (!where.inside) {
      this.problems.add(
        new BuilditError('BUILDIT_PATH_ESCAPE', `${what} ${ref} leads outside ${root}`, {
          location,
          hint: `keep ${what} files inside the folder that holds ${path.basename(file)}'s tree`,
        }),
      );
      return undefined;
    }
    if (!where.exists) {
      this.problems.add(
        new BuilditError(
          what === 'patch' ? 'BUILDIT_PATCH_MISSING' : 'BUILDIT_SOURCE_MISSING',
          `${what} not found: ${where.path}`,
          {
            location,
            hint: `paths are relative to ${file}`,
          },
        ),
      );
      return undefined;
    }
    return where.path;
  }

  private digest(file: string, type: 'dir' | 'file'): Promise<string> {
    let digest = this.digests.get(file);
    if (!digest) {
      digest = type === 'dir' ? treeDigest(file).then((d) => d.replace(/^sha256:/, '')) : sha256File(file);
      this.digests.set(file, digest);
    }
    return digest;
  }
}

function mergeDepends(all: readonly DependsSpec[]): DependsSpec {
  const out: DependsSpec = { build: [], run: [] };
  for (const kind of ['build', 'run'] as const) {
    const seen = new Set<string>();
    for (const d of all) {
      for (const dep of d[kind]) {
        const text = formatAtom(dep.atom);
        if (seen.has(text)) continue;
        seen.add(text);
        out[kind].push(dep);
      }
    }
  }
  return out;
}
