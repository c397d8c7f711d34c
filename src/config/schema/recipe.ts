/** Recipes (SPEC §2.3) and package definitions, pkg.yaml (SPEC §2.2). */
import { z } from 'zod';
import {
  atom,
  dependsSchema,
  envSchema,
  flagName,
  sha256Hex,
  stringList,
  useSelection,
  version,
  wholeNumber,
} from './common.ts';

export const sourceItem = z
  .strictObject({
    url: z.string().optional(),
    path: z.string().optional(),
    sha256: sha256Hex.optional(),
    strip: wholeNumber.optional(),
    filename: z.string().optional(),
  })
  .superRefine((source, ctx) => {
    if ((source.url === undefined) === (source.path === undefined)) {
      ctx.addIssue({
        code: 'custom',
        message:
          source.url === undefined ? 'a source needs url: or path:' : 'a source has url: or path:, not both',
        params: {
          code: 'BUILDIT_SOURCE_KIND',
          hint: 'write `- url: https://… with sha256: …` or `- path: ./files/src`',
        },
      });
    } else if (source.url !== undefined && source.sha256 === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['url'],
        message: `url source ${source.url} has no sha256`,
        params: {
          code: 'BUILDIT_SOURCE_SHA256',
          hint: 'add `sha256: <64 hex digits>` (sha256sum of the file)',
        },
      });
    }
  });

export const flagDeclaration = z.strictObject({
  default: z.boolean().optional(),
  enable: stringList.optional(),
  disable: stringList.optional(),
  description: z.string().optional(),
  depends: dependsSchema.optional(),
});

export const flagDeclarations = z.record(flagName, flagDeclaration);

/** What a recipe file and an inline recipe in pkg.yaml share. */
const recipeShape = {
  description: z.string().optional(),
  homepage: z.string().optional(),
  license: z.string().optional(),
  source: z.array(sourceItem).optional(),
  // patches come in two forms; they are checked on their own (see parsePatches)
  patches: z.unknown().optional(),
  depends: dependsSchema.optional(),
  env: envSchema.optional(),
  build: stringList.optional(),
  epoch: wholeNumber.optional(),
};

export const recipeSchema = z.strictObject({
  ...recipeShape,
  use: flagDeclarations.optional(),
});

/**
 * pkg.yaml. `use:` here selects flags ({with, without}); an inline recipe
 * (no `base:`) declares its flags under `flags:`, which has a recipe's `use:` shape.
 */
export const packageDefSchema = z.strictObject({
  base: atom.optional(),
  author: z.string().optional(),
  ...recipeShape,
  use: useSelection.optional(),
  name: z.string().optional(),
  version: version.optional(),
  category: z.string().optional(),
  flags: flagDeclarations.optional(),
});

/** Keys that define a recipe; with `base:` they are not allowed in pkg.yaml. */
export const INLINE_RECIPE_KEYS = [
  'name',
  'version',
  'category',
  'source',
  'build',
  'epoch',
  'flags',
  'homepage',
  'license',
] as const;
