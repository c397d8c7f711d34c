/** Parse a package definition, pkg.yaml (SPEC §2.2). */
import { BuilditError, Problems } from '../errors.ts';
import { isValidName } from '../recipe/atom.ts';
import { mappingAt } from './document.ts';
import { locator, parsePatches, toDepends, toUseSelection } from './parts.ts';
import { toRecipeSpec } from './recipe-file.ts';
import { INLINE_RECIPE_KEYS, packageDefSchema } from './schema/recipe.ts';
import type { PackageDefSpec } from './types.ts';
import { validate } from './validate.ts';
import { parseYaml } from './yaml.ts';

/** Category of inline recipes that do not name one. */
export const INLINE_CATEGORY = 'local';

export function parsePackageDef(text: string, file: string): PackageDefSpec {
  const yaml = parseYaml(text, file);
  const problems = new Problems();
  const doc = mappingAt(yaml, [], 'a package definition', problems);
  const value = doc && validate(yaml, packageDefSchema, doc, [], problems);
  const patches = parsePatches(yaml, doc?.['patches'], ['patches'], problems);
  if (!value) {
    problems.throwIfAny();
    throw new Error('unreachable: invalid pkg.yaml without problems');
  }

  const common = {
    file,
    ...(value.author === undefined ? {} : { author: value.author }),
    ...(value.description === undefined ? {} : { description: value.description }),
    patches,
    use: toUseSelection(yaml, ['use'], value.use),
    depends: toDepends(yaml, ['depends'], value.depends),
    env: value.env ?? {},
    locate: locator(yaml, []),
  };

  if (value.base) {
    for (const key of INLINE_RECIPE_KEYS) {
      if (value[key] === undefined) continue;
      problems.add(
        new BuilditError(
          'BUILDIT_PKG_INLINE_WITH_BASE',
          `"${key}" belongs to a recipe, but this package has base: ${doc!['base'] as string}`,
          {
            location: yaml.locate([key], 'key'),
            hint: 'with base:, pkg.yaml may only add patches, use, depends, env and metadata; drop base: to write the whole recipe inline',
          },
        ),
      );
    }
    problems.throwIfAny();
    return { ...common, base: { atom: value.base, location: yaml.locate(['base']) } };
  }

  for (const key of ['name', 'version'] as const) {
    if (value[key] !== undefined) continue;
    problems.add(
      new BuilditError(
        'BUILDIT_SCHEMA_MISSING',
        `missing "${key}": a package definition without base: is an inline recipe`,
        {
          location: yaml.locate([]),
          hint: `add ${key}: …, or base: <category/name-version> to build on a recipe`,
        },
      ),
    );
  }
  if (value.name !== undefined && !isValidName(value.name)) {
    problems.add(
      new BuilditError('BUILDIT_ATOM_SYNTAX', `"${value.name}" is not a valid package name`, {
        location: yaml.locate(['name']),
        hint: 'letters, digits, "+", "_" and "-", not ending in -<version>',
      }),
    );
  }
  if (value.build === undefined) {
    problems.add(
      new BuilditError('BUILDIT_SCHEMA_MISSING', 'missing "build": an inline recipe needs build lines', {
        location: yaml.locate([]),
        hint: 'add build: [ make, make install DESTDIR=$DESTDIR ] or base: <atom>',
      }),
    );
  }
  problems.throwIfAny();
  // Recipe patches and the package's are the same list for an inline recipe.
  const recipe = toRecipeSpec(yaml, [], value, [], 'flags', value.flags);
  return {
    ...common,
    inline: {
      ...recipe,
      name: value.name!,
      version: value.version!,
      category: value.category ?? INLINE_CATEGORY,
    },
  };
}
