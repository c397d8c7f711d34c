/**
 * Pushes an OCI image layout (image/oci.ts) to a registry: the blobs its
 * tagged manifest names, streamed from `blobs/sha256/`, then the manifest's
 * bytes exactly as stored, so the registry's digest is the layout's.
 */
import { createReadStream } from 'node:fs';
import { layoutBlobFile, LayoutProblem, readLayoutManifest } from '../image/oci-read.ts';
import type { RegistryClient } from './client.ts';
import { RegistryError, retryRegistry } from './errors.ts';
import { MANIFEST_TYPES, OCI_MANIFEST } from './media-types.ts';
import type { ImageReference } from './reference.ts';

export interface PushLayoutOptions {
  /** Called per blob once it is in the registry; `skipped` when nothing was uploaded. */
  onBlob?(digest: string, skipped: boolean): void;
  /** Repositories on the same registry that may hold some blobs already (a base image). */
  mountFrom?: readonly string[];
  /** Told when an upload failed transiently and is tried again (up to 3 attempts in all). */
  onRetry?(error: RegistryError, attempt: number): void;
}

export async function pushLayout(
  layoutDir: string,
  tag: string,
  ref: ImageReference,
  client: RegistryClient,
  options: PushLayoutOptions = {},
): Promise<{ digest: string }> {
  const {
    entry,
    bytes: manifestBytes,
    manifest,
  } = await layout(layoutDir, () => readLayoutManifest(layoutDir, tag));
  const mediaType = entry.mediaType ?? manifest.mediaType ?? OCI_MANIFEST;
  if (!MANIFEST_TYPES.includes(mediaType)) {
    throw layoutError(layoutDir, `${entry.digest} is a ${mediaType}, not an image manifest`);
  }

  const mountFrom = options.mountFrom ?? [];
  const retry = options.onRetry ? { onRetry: options.onRetry } : {};
  const seen = new Set<string>();
  for (const blob of [manifest.config, ...manifest.layers]) {
    if (seen.has(blob.digest)) continue;
    seen.add(blob.digest);
    const file = await layout(layoutDir, () => layoutBlobFile(layoutDir, blob));
    // A retry starts a fresh upload; the registry drops the broken one.
    const result = await retryRegistry(
      () =>
        client.pushBlob(ref.repository, blob.digest, blob.size, () => createReadStream(file), { mountFrom }),
      retry,
    );
    options.onBlob?.(blob.digest, result !== 'uploaded');
  }

  // Under the tag; a digest-only reference pushes by digest (the registry checks it).
  const reference = ref.tag ?? ref.digest ?? entry.digest;
  if (ref.digest !== undefined && ref.digest !== entry.digest) {
    throw new RegistryError(
      'BUILDIT_REGISTRY_DIGEST',
      `${ref.text} pins ${ref.digest}, but the image built is ${entry.digest}`,
      { transient: false, exitCode: 2, hint: 'push to a tag, or drop the @digest from the reference' },
    );
  }
  const digest = await retryRegistry(
    () => client.pushManifest(ref.repository, reference, manifestBytes, mediaType),
    retry,
  );
  if (digest !== entry.digest) {
    throw layoutError(layoutDir, `the manifest's bytes are ${digest}, index.json says ${entry.digest}`);
  }
  return { digest };
}

/** Layout problems, said as what they mean for a push. */
async function layout<T>(layoutDir: string, read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof LayoutProblem) throw layoutError(layoutDir, error.message, error.cause);
    throw error;
  }
}

function layoutError(layoutDir: string, why: string, cause?: unknown): RegistryError {
  return new RegistryError('BUILDIT_REGISTRY_LAYOUT', `OCI layout ${layoutDir}: ${why}`, {
    transient: false,
    hint: 'write the image again (buildit <dir>) before pushing it',
    ...(cause === undefined ? {} : { cause }),
  });
}
