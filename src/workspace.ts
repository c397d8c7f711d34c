/**
 * Everything a command needs before it looks at a container: the config,
 * the recipe repositories it names, the store, the toolchain id.
 */
import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadConfig } from './config/load.ts';
import type { BuilditConfig } from './config/types.ts';
import { BuilditError, Problems } from './errors.ts';
import { probeToolchain } from './build/toolchain.ts';
import { RecipeRepositories } from './recipe/repository.ts';
import { LocalStore, storeDir } from './store/store.ts';
import { statIfExists } from './util/fs.ts';

/** The recipes that ship with buildit: the last repository, like Gentoo's main tree under overlays. */
export const BUNDLED_RECIPES = fileURLToPath(new URL('../recipes', import.meta.url));

export interface WorkspaceOptions {
  /** Where to look for .buildit-config.yaml, upwards (the container dir). */
  from: string;
  config?: string;
  store?: string;
  env: NodeJS.ProcessEnv;
}

export interface Workspace {
  config: BuilditConfig;
  repositories: RecipeRepositories;
  store: LocalStore;
  toolchain(): Promise<string>;
}

export async function openWorkspace(options: WorkspaceOptions): Promise<Workspace> {
  const config = await loadConfig({
    from: options.from,
    env: options.env,
    ...(options.config ? { explicit: options.config } : {}),
  });
  const configDir = config.file ? path.dirname(config.file) : process.cwd();
  const repositories = new RecipeRepositories(await recipeDirs(config, configDir));
  const store = new LocalStore(
    storeDir({
      env: options.env,
      ...(options.store ? { explicit: options.store } : {}),
      ...(config.store ? { configured: path.resolve(configDir, config.store) } : {}),
    }),
  );
  let toolchain: Promise<string> | undefined;
  const cacheFile = path.join(store.root, 'cache', 'toolchain.json');
  return {
    config,
    repositories,
    store,
    toolchain: () => (toolchain ??= probeToolchain(options.env, { cacheFile })),
  };
}

async function recipeDirs(config: BuilditConfig, configDir: string): Promise<string[]> {
  const problems = new Problems();
  const dirs: string[] = [];
  for (const [i, dir] of config.recipes.entries()) {
    const full = path.resolve(configDir, dir);
    if ((await statIfExists(full))?.isDirectory()) dirs.push(full);
    else
      problems.add(
        new BuilditError('BUILDIT_CONFIG_RECIPES', `recipe repository not found: ${full}`, {
          location: config.locate(['recipes', i]),
          hint: 'recipes: folders are relative to the config file',
        }),
      );
  }
  problems.throwIfAny();
  if (config.recipes.length === 0 && config.file) {
    const beside = path.join(configDir, 'recipes');
    if ((await statIfExists(beside))?.isDirectory()) dirs.push(beside);
  }
  if ((await statIfExists(BUNDLED_RECIPES))?.isDirectory()) dirs.push(BUNDLED_RECIPES);
  // One folder named twice (the bundled tree is often also ./recipes) is searched once.
  const unique = new Map<string, string>();
  for (const dir of dirs) {
    const real = await realpath(dir);
    if (!unique.has(real)) unique.set(real, dir);
  }
  return [...unique.values()];
}
