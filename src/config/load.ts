/** Read the input files from disk: thin wrappers around the parsers. */
import os from 'node:os';
import path from 'node:path';
import { BuilditError, type SourceLocation } from '../errors.ts';
import { notAFile, readTextIfExists } from '../util/fs.ts';
import { parseConfig } from './buildit-config.ts';
import { parseContainer } from './container.ts';
import { parsePackageDef } from './package-def.ts';
import { parseRecipe } from './recipe-file.ts';
import type { BuilditConfig, ContainerSpec, PackageDefSpec, RecipeSpec } from './types.ts';

export const CONFIG_NAME = '.buildit-config.yaml';

async function readRequired(
  file: string,
  code: string,
  what: string,
  from?: SourceLocation,
  hint?: string,
): Promise<string> {
  const text = await readTextIfExists(file);
  if (text === notAFile) {
    throw new BuilditError(code, `${what} is a folder, not a file: ${file}`, {
      location: from ?? { file },
      hint: `replace the folder with a ${what} file`,
    });
  }
  if (text !== undefined) return text;
  throw new BuilditError(code, `${what} not found: ${file}`, {
    location: from ?? { file },
    ...(hint ? { hint } : {}),
  });
}

export async function loadContainer(dir: string): Promise<ContainerSpec> {
  const file = path.join(dir, 'container.yaml');
  const text = await readRequired(
    file,
    'BUILDIT_CONTAINER_MISSING',
    'container.yaml',
    undefined,
    `is ${dir} a container dir? It needs a container.yaml`,
  );
  return parseContainer(text, file);
}

export async function loadPackageDef(dir: string, from?: SourceLocation): Promise<PackageDefSpec> {
  const file = path.join(dir, 'pkg.yaml');
  const text = await readRequired(
    file,
    'BUILDIT_PKG_MISSING',
    'pkg.yaml',
    from,
    `a package folder holds a pkg.yaml; looked in ${dir}`,
  );
  return parsePackageDef(text, file);
}

export async function loadRecipe(file: string): Promise<RecipeSpec> {
  return parseRecipe(await readRequired(file, 'BUILDIT_RECIPE_MISSING', 'recipe', { file }), file);
}

export interface ConfigSearch {
  /** --config */
  explicit?: string;
  /** Where to start looking upwards (the container dir). */
  from: string;
  env: NodeJS.ProcessEnv;
}

/**
 * --config FILE, else the nearest .buildit-config.yaml from the container dir
 * upwards, else $XDG_CONFIG_HOME/buildit/config.yaml, else the defaults.
 */
export async function loadConfig(search: ConfigSearch): Promise<BuilditConfig> {
  if (search.explicit) {
    const file = path.resolve(search.explicit);
    const text = await readRequired(
      file,
      'BUILDIT_CONFIG_MISSING',
      'config file',
      undefined,
      'check the --config path',
    );
    return parseConfig(text, file);
  }
  for (let dir = path.resolve(search.from); ; dir = path.dirname(dir)) {
    const file = path.join(dir, CONFIG_NAME);
    const text = await readTextIfExists(file);
    if (text === notAFile) {
      throw new BuilditError('BUILDIT_CONFIG_NOT_FILE', `${file} is a folder, not a config file`, {
        location: { file },
        hint: 'remove or rename it, or pass --config',
      });
    }
    if (text !== undefined) return parseConfig(text, file);
    if (path.dirname(dir) === dir) break;
  }
  const xdg = search.env['XDG_CONFIG_HOME'] || path.join(search.env['HOME'] || os.homedir(), '.config');
  const file = path.join(xdg, 'buildit', 'config.yaml');
  const text = await readTextIfExists(file);
  if (typeof text === 'string') return parseConfig(text, file);
  return {
    repositories: [],
    discover: [],
    recipes: [],
    trustedKeys: [],
    locate: Object.assign(() => ({ file: '(defaults)' }), {
      text: () => ({ location: { file: '(defaults)' }, continuationCol: 1 }),
    }),
  };
}
