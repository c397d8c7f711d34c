/** .buildit-config.yaml (SPEC §2.4); the seed's `repository:` block is valid as it stands. */
import { z } from 'zod';
import { stringList } from './common.ts';

export const repositorySchema = z.strictObject({
  name: z.string(),
  'upload-type': z.enum(['ssh', 'sftp', 'file']).optional(),
  'upload-path': z.string().optional(),
  'download-type': z.enum(['https', 'http', 'file']).optional(),
  'download-path': z.string().optional(),
  'identity-file': z.string().optional(),
  'known-hosts': z.string().optional(),
  'ca-file': z.string().optional(),
});

const oneOrMany = z.preprocess((v) => (typeof v === 'string' ? [v] : v), stringList);

export const configSchema = z.strictObject({
  repository: repositorySchema.optional(),
  repositories: z.array(repositorySchema).optional(),
  discover: oneOrMany.optional(),
  recipes: oneOrMany.optional(),
  store: z.string().optional(),
  'trusted-keys': oneOrMany.optional(),
  'signing-key': z.string().optional(),
  output: z.string().optional(),
});

export type RepositoryConfig = z.output<typeof repositorySchema>;
