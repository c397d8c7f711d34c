/**
 * Recipe repositories: folder trees `<category>/<name>/<name>-<version>.yaml`.
 * Earlier folders win, like Portage overlays over the main tree.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { BuilditError, type SourceLocation } from '../errors.ts';
import { loadRecipe } from '../config/load.ts';
import type { RecipeSpec } from '../config/types.ts';
import { didYouMean } from '../util/suggest.ts';
import { statIfExists } from '../util/fs.ts';
import { compareVersions, formatAtom, type Atom } from './atom.ts';

export interface FoundRecipe {
  atom: Atom;
  file: string;
  /** The repository folder it was found in: its files may not reach outside. */
  root: string;
  recipe: RecipeSpec;
}

export class RecipeRepositories {
  readonly dirs: readonly string[];
  private readonly cache = new Map<string, Promise<FoundRecipe | undefined>>();

  constructor(dirs: readonly string[]) {
    this.dirs = dirs;
  }

  find(atom: Atom): Promise<FoundRecipe | undefined> {
    const key = formatAtom(atom);
    let found = this.cache.get(key);
    if (!found) {
      found = this.lookup(atom);
      this.cache.set(key, found);
    }
    return found;
  }

  private async lookup(atom: Atom): Promise<FoundRecipe | undefined> {
    for (const root of this.dirs) {
      const file = path.join(root, atom.category, atom.name, `${atom.name}-${atom.version}.yaml`);
      if ((await statIfExists(file))?.isFile()) return { atom, file, root, recipe: await loadRecipe(file) };
    }
    return undefined;
  }

  /** Every version of category/name the repositories hold, oldest first. */
  async versions(category: string, name: string): Promise<string[]> {
    const found = new Set<string>();
    for (const root of this.dirs) {
      for (const entry of await listDir(path.join(root, category, name))) {
        const prefix = `${name}-`;
        if (entry.startsWith(prefix) && entry.endsWith('.yaml'))
          found.add(entry.slice(prefix.length, -'.yaml'.length));
      }
    }
    return [...found].sort(compareVersions);
  }

  /** Every category/name the repositories hold. */
  async names(): Promise<string[]> {
    const found = new Set<string>();
    for (const root of this.dirs) {
      for (const category of await listDir(root)) {
        for (const name of await listDir(path.join(root, category))) found.add(`${category}/${name}`);
      }
    }
    return [...found].sort();
  }

  /** An error for an atom no repository holds, with what it could have meant. */
  async unknownAtomError(atom: Atom, location: SourceLocation): Promise<BuilditError> {
    const versions = await this.versions(atom.category, atom.name);
    let hint: string;
    if (versions.length > 0) {
      hint = `available versions of ${atom.category}/${atom.name}: ${versions.join(', ')}`;
    } else {
      const guess = didYouMean(`${atom.category}/${atom.name}`, await this.names());
      hint = guess
        ? `did you mean ${guess}? (versions: ${(await this.versions(...(guess.split('/') as [string, string]))).join(', ')})`
        : `no recipe of that name in ${this.dirs.length ? this.dirs.join(', ') : 'any recipe repository (none configured)'}`;
    }
    return new BuilditError('BUILDIT_ATOM_UNKNOWN', `unknown atom ${formatAtom(atom)}`, { location, hint });
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}
