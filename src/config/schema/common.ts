/** Schema pieces shared by the four input formats. */
import { z } from 'zod';
import { tryParseAtom, VERSION, type Atom } from '../../recipe/atom.ts';

/** Digit strings as our YAML reader keeps them ("5"), as whole numbers. */
export const wholeNumber = z
  .string({ error: 'expected a whole number' })
  .regex(/^[0-9]+$/, 'expected a whole number')
  .transform(Number);

export const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'expected a sha256: 64 lowercase hex digits');

export const stringList = z.array(z.string());

export const atom = z.string().transform((text, ctx): Atom => {
  const result = tryParseAtom(text);
  if (result.ok) return result.atom;
  ctx.addIssue({
    code: 'custom',
    message: `bad atom "${text}": ${result.reason}`,
    params: {
      code: 'BUILDIT_ATOM_SYNTAX',
      hint: 'atoms look like www-servers/nginx-1.22.1 or dev-libs/zlib-1.3-r1',
    },
  });
  return z.NEVER;
});

export const version = z.string().regex(VERSION, 'expected a version like 1.0, 1.22.1, 1.3-r1 or 2.0_rc1');

export const flagName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9+_-]*$/, 'use flags are lowercase letters, digits, "+", "_" and "-"');

export const dependsSchema = z.strictObject({
  build: z.array(atom).optional(),
  run: z.array(atom).optional(),
});

/** `use: { with: [...], without: [...] }` in pkg.yaml and a recipe package step. */
export const useSelection = z.strictObject({
  with: z.array(flagName).optional(),
  without: z.array(flagName).optional(),
});

/** Values that may be written as any YAML scalar and are used as text. */
export const scalarText = z
  .union([z.string(), z.boolean()], { error: 'expected a string, number or boolean' })
  .transform(String);

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Set by buildit for every build; a recipe may not override them (SPEC §2.3). */
export const RESERVED_ENV = new Set(['DESTDIR', 'HOME', 'JOBS', 'SOURCE_DATE_EPOCH', 'TZ', 'LC_ALL', 'PATH']);

export const envSchema = z.record(z.string(), scalarText).superRefine((env, ctx) => {
  for (const name of Object.keys(env)) {
    const reserved = RESERVED_ENV.has(name) || name.startsWith('BUILDIT_');
    if (ENV_NAME.test(name) && !reserved) continue;
    ctx.addIssue({
      code: 'custom',
      path: [name],
      message: reserved
        ? `${name} is set by buildit and cannot be overridden`
        : `"${name}" is not a valid environment variable name`,
      params: {
        code: 'BUILDIT_RECIPE_ENV',
        at: 'key',
        hint: reserved
          ? 'epoch: sets SOURCE_DATE_EPOCH; build dependencies extend PATH'
          : 'use letters, digits and "_"',
      },
    });
  }
});

/** A patch in list form: `- { file | url, description, sha256, strip }`. */
export const patchItem = z.strictObject({
  file: z.string().optional(),
  url: z.string().optional(),
  description: z.string().optional(),
  sha256: sha256Hex.optional(),
  strip: wholeNumber.optional(),
});

/** Patches in map form: `path-or-url: description`. */
export const patchMap = z.record(
  z.string(),
  z.union([z.string(), z.null()], { error: 'expected a description' }),
);
export const patchList = z.array(patchItem);
