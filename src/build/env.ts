/**
 * The environment a recipe's build lines run in (SPEC §2.3). Nothing is
 * inherited from buildit's own environment: every variable a build can see is
 * listed here, so two machines given the same package see the same values.
 */
import type { PackageNode } from '../recipe/types.ts';

/** The host's tools, after those of the build dependencies. */
export const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface BuildDep {
  atom: string;
  /** Where the dependency's artifact is unpacked (its `/usr/bin` is `<root>/usr/bin`). */
  root: string;
}

export interface BuildEnvInput {
  node: PackageNode;
  srcDir: string;
  destDir: string;
  homeDir: string;
  jobs: number;
  buildDeps: BuildDep[];
}

/** `BUILDIT_USE_<FLAG>`: upper case, `-` and `+` turned into `_` (docs/decisions.md). */
export function useVarName(flag: string): string {
  return `BUILDIT_USE_${flag.toUpperCase().replace(/[-+]/g, '_')}`;
}

export function buildEnv(input: BuildEnvInput): Record<string, string> {
  const { node } = input;
  // The identity treats build deps as a set sorted by atom; the search paths
  // follow the same order so that reordering `depends:` in YAML, which does not
  // change the identity, cannot change the build either.
  const deps = [...input.buildDeps].sort((a, b) => compare(a.atom, b.atom) || compare(a.root, b.root));

  const configureFlags: string[] = [];
  const useVars: Record<string, string> = {};
  for (const flag of node.flags) {
    const on = node.use[flag.name] ?? flag.default;
    configureFlags.push(...(on ? flag.enable : flag.disable));
    useVars[useVarName(flag.name)] = on ? '1' : '0';
  }

  const env: Record<string, string> = {
    PATH: [...deps.flatMap((d) => [`${d.root}/usr/bin`, `${d.root}/bin`]), SYSTEM_PATH].join(':'),
    HOME: input.homeDir,
    TZ: 'UTC',
    LC_ALL: 'C.UTF-8',
    SOURCE_DATE_EPOCH: String(node.recipe.epoch),
    DESTDIR: input.destDir,
    PREFIX: '/usr',
    JOBS: String(input.jobs),
    BUILDIT_CONFIGURE_FLAGS: configureFlags.join(' '),
    ...useVars,
    // Validation keeps the names above (but PREFIX) out of a recipe's env.
    ...node.env,
  };

  if (deps.length > 0) {
    // The dependencies' entries come first; a value the recipe set itself is kept after them.
    const searchPaths: Record<string, string[]> = {
      CPATH: deps.map((d) => `${d.root}/usr/include`),
      LIBRARY_PATH: deps.map((d) => `${d.root}/usr/lib`),
      PKG_CONFIG_PATH: deps.flatMap((d) => [`${d.root}/usr/lib/pkgconfig`, `${d.root}/usr/share/pkgconfig`]),
    };
    for (const [name, entries] of Object.entries(searchPaths)) {
      const own = env[name];
      env[name] = (own ? [...entries, own] : entries).join(':');
    }
  }
  return env;
}

/** Code-unit order, as the identity's pre-image sorts its deps. */
function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
