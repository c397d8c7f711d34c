/** Parse a recipe file (SPEC §2.3). */
import type { z } from 'zod';
import { Problems } from '../errors.ts';
import { locator, parsePatches, toDepends, toFlags } from './parts.ts';
import { recipeSchema } from './schema/recipe.ts';
import type { RecipeSpec, SourceSpec } from './types.ts';
import { validate } from './validate.ts';
import { type Path, parseYaml, type YamlFile } from './yaml.ts';
import { mappingAt } from './document.ts';

export function parseRecipe(text: string, file: string): RecipeSpec {
  const yaml = parseYaml(text, file);
  const problems = new Problems();
  const doc = mappingAt(yaml, [], 'a recipe', problems);
  const value = doc && validate(yaml, recipeSchema, doc, [], problems);
  const patches = parsePatches(yaml, doc?.['patches'], ['patches'], problems);
  problems.throwIfAny();
  return toRecipeSpec(yaml, [], value!, patches, 'use', value!.use);
}

type RecipeFields = Omit<z.output<typeof recipeSchema>, 'use'>;

/** Shared with inline recipes in pkg.yaml, whose flags come from `flags:`. */
export function toRecipeSpec(
  yaml: YamlFile,
  base: Path,
  value: RecipeFields,
  patches: RecipeSpec['patches'],
  flagsKey: 'use' | 'flags',
  flags: z.output<typeof recipeSchema>['use'],
): RecipeSpec {
  const sources: SourceSpec[] = (value.source ?? []).map((s, i) => ({
    kind: s.url !== undefined ? 'url' : 'path',
    ref: (s.url ?? s.path)!,
    ...(s.sha256 === undefined ? {} : { sha256: s.sha256 }),
    ...(s.strip === undefined ? {} : { strip: s.strip }),
    ...(s.filename === undefined ? {} : { filename: s.filename }),
    location: yaml.locate([...base, 'source', i]),
  }));
  return {
    file: yaml.file,
    ...(value.description === undefined ? {} : { description: value.description }),
    ...(value.homepage === undefined ? {} : { homepage: value.homepage }),
    ...(value.license === undefined ? {} : { license: value.license }),
    sources,
    patches,
    flags: toFlags(yaml, [...base, flagsKey], flags),
    depends: toDepends(yaml, [...base, 'depends'], value.depends),
    env: value.env ?? {},
    build: value.build ?? [],
    epoch: value.epoch ?? 0,
    locate: locator(yaml, base),
  };
}
