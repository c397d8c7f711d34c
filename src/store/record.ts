/** Package records (SPEC §5): what a binhost says about one artifact. */
import { z } from 'zod';
import type { Preimage } from '../identity/preimage.ts';

export const RECORD_SCHEMA = 'buildit-pkg/v1';
export const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';

const hex64 = z.string().regex(/^[0-9a-f]{64}$/);
const digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

/** Records come from binhosts: untrusted input, checked field by field. */
export const recordSchema = z.object({
  schema: z.literal(RECORD_SCHEMA),
  id: hex64,
  name: z.string(),
  version: z.string(),
  target: z.object({ os: z.string(), arch: z.string() }),
  preimage: z.record(z.string(), z.unknown()),
  artifact: z.object({
    digest,
    size: z.number().int().nonnegative(),
    diffId: digest,
    mediaType: z.literal(LAYER_MEDIA_TYPE),
  }),
  metadata: z.record(z.string(), z.unknown()),
  signatures: z.array(z.object({ keyId: z.string(), sig: z.string() })).default([]),
});

export type PackageRecord = Omit<z.output<typeof recordSchema>, 'preimage'> & {
  preimage: Preimage | Record<string, unknown>;
};

export interface ArtifactInfo {
  /** sha256 of the gzip'd tar: the blob's name and the OCI layer digest. */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar: the OCI diff_id. */
  diffId: string;
  mediaType: typeof LAYER_MEDIA_TYPE;
}

/** The bare hex of an artifact's digest: its blob's name in every binhost layout. */
export function artifactHex(record: Pick<PackageRecord, 'artifact'>): string {
  return record.artifact.digest.slice('sha256:'.length);
}
