/** The steps of container.yaml (SPEC §2.1). */
import { z } from 'zod';
import { atom, scalarText, useSelection } from './common.ts';

export const STEP_KINDS = ['vars', 'package', 'sync', 'image'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

export const varsStep = z.record(
  z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, 'variable names are letters, digits, "_" and "-"'),
  scalarText,
);

export const embeddedPackage = z.strictObject({ type: z.literal('embedded'), path: z.string() });
export const recipePackage = z.strictObject({
  type: z.literal('recipe'),
  atom,
  use: useSelection.optional(),
});
export const PACKAGE_TYPES = { embedded: embeddedPackage, recipe: recipePackage } as const;

/** chmod digits, however YAML typed them: 0644, "0644", 644 and 0o644 all mean rw-r--r--. */
export const chmod = z
  .string({ error: 'expected octal permission digits like 0644' })
  .transform((text, ctx) => {
    const m = /^(?:0o)?([0-7]{3,4})$/.exec(text);
    if (m) return parseInt(m[1]!, 8);
    ctx.addIssue({
      code: 'custom',
      message: `chmod ${text}: not octal permission digits`,
      params: { code: 'BUILDIT_SYNC_CHMOD', hint: 'three or four digits 0-7, e.g. 0644 or 0755' },
    });
    return z.NEVER;
  });

export const owner = z.string({ error: 'expected uid:gid, e.g. 0:0' }).transform((text, ctx) => {
  const m = /^(\d+)(?::(\d+))?$/.exec(text);
  if (m) return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  ctx.addIssue({
    code: 'custom',
    message: `owner "${text}" is not uid:gid`,
    params: { code: 'BUILDIT_SYNC_OWNER', hint: 'numeric ids: owner: 0:0 or owner: 1000:1000' },
  });
  return z.NEVER;
});

export const syncStep = z.strictObject({
  src: z.string(),
  dest: z.string().refine((dest) => dest.startsWith('/'), {
    message: 'dest must be an absolute path in the image',
    params: { code: 'BUILDIT_SYNC_DEST', hint: 'e.g. dest: /etc/nginx/nginx.conf' },
  }),
  recursive: z.boolean().optional(),
  chmod: chmod.optional(),
  owner: owner.optional(),
});

const imageCommon = {
  content: z.string(),
  name: z.string().optional(),
};
export const aciImage = z.strictObject({ type: z.literal('aci'), ...imageCommon });
export const ociImage = z.strictObject({
  type: z.literal('oci'),
  ...imageCommon,
  tag: z.string().optional(),
  base: z.string().optional(),
  push: z.array(z.string()).optional(),
});
export const IMAGE_TYPES = { aci: aciImage, oci: ociImage } as const;
