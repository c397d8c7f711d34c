/** The binhost layout (SPEC §5), shared by the store and every binhost. */
import type { Target } from '../recipe/types.ts';

export const BINHOST_MARKER = 'buildit-binhost.json';
export const BINHOST_SCHEMA = 'buildit-binhost/v1';

export function recordPath(target: Target, id: string): string {
  return `packages/${target.os}-${target.arch}/${id.slice(0, 2)}/${id}.json`;
}

/** `hex` is the bare sha256 hex digest. */
export function blobPath(hex: string): string {
  return `blobs/sha256/${hex.slice(0, 2)}/${hex}`;
}
