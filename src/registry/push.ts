/**
 * Pushes an OCI image layout (image/oci.ts) to a registry: the blobs its
 * tagged manifest names, streamed from `blobs/sha256/`, then the manifest's
 * bytes exactly as stored, so the registry's digest is the layout's.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RegistryClient } from './client.ts';
import { RegistryError } from './errors.ts';
import { MANIFEST_TYPES, OCI_MANIFEST } from './media-types.ts';
import type { ImageReference } from './reference.ts';

const REF_NAME = 'org.opencontainers.image.ref.name';
const DIGEST = /^sha256:([a-f0-9]{64})$/;

export interface PushLayoutOptions {
  /** Called per blob once it is in the registry; `skipped` when nothing was uploaded. */
  onBlob?(digest: string, skipped: boolean): void;
  /** Repositories on the same registry that may hold some blobs already (a base image). */
  mountFrom?: readonly string[];
}

interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export async function pushLayout(
  layoutDir: string,
  tag: string,
  ref: ImageReference,
  client: RegistryClient,
  options: PushLayoutOptions = {},
): Promise<{ digest: string }> {
  const index = await readJson<{ manifests?: Descriptor[] }>(layoutDir, path.join(layoutDir, 'index.json'));
  const manifests = Array.isArray(index.manifests) ? index.manifests : [];
  const entry = manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!entry) {
    const tags = manifests.map((m) => m.annotations?.[REF_NAME]).filter((t) => t !== undefined);
    throw layoutError(
      layoutDir,
      `no manifest is tagged ${JSON.stringify(tag)} (it has ${tags.join(', ') || 'none'})`,
    );
  }
  const manifestBytes = await readBlob(layoutDir, entry);
  const manifest = parseJson<{ mediaType?: string; config?: Descriptor; layers?: Descriptor[] }>(
    layoutDir,
    manifestBytes,
    entry.digest,
  );
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw layoutError(layoutDir, `${entry.digest} is not an image manifest (no config or layers)`);
  }
  const mediaType = entry.mediaType ?? manifest.mediaType ?? OCI_MANIFEST;
  if (!MANIFEST_TYPES.includes(mediaType)) {
    throw layoutError(layoutDir, `${entry.digest} is a ${mediaType}, not an image manifest`);
  }

  const mountFrom = options.mountFrom ?? [];
  const seen = new Set<string>();
  for (const blob of [manifest.config, ...manifest.layers]) {
    if (seen.has(blob.digest)) continue;
    seen.add(blob.digest);
    const file = await blobFile(layoutDir, blob);
    const result = await client.pushBlob(
      ref.repository,
      blob.digest,
      blob.size,
      () => createReadStream(file),
      {
        mountFrom,
      },
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
  const digest = await client.pushManifest(ref.repository, reference, manifestBytes, mediaType);
  if (digest !== entry.digest) {
    throw layoutError(layoutDir, `the manifest's bytes are ${digest}, index.json says ${entry.digest}`);
  }
  return { digest };
}

async function blobFile(layoutDir: string, blob: Descriptor): Promise<string> {
  const hex = DIGEST.exec(typeof blob.digest === 'string' ? blob.digest : '')?.[1];
  if (!hex || !Number.isSafeInteger(blob.size) || blob.size < 0) {
    throw layoutError(layoutDir, `a descriptor is malformed: ${JSON.stringify(blob).slice(0, 200)}`);
  }
  const file = path.join(layoutDir, 'blobs', 'sha256', hex);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    throw layoutError(layoutDir, `blob ${blob.digest} is missing`, error);
  }
  if (size !== blob.size)
    throw layoutError(layoutDir, `blob ${blob.digest} holds ${size} bytes, not ${blob.size}`);
  return file;
}

async function readBlob(layoutDir: string, blob: Descriptor): Promise<Buffer> {
  const bytes = await readFile(await blobFile(layoutDir, blob));
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== blob.digest)
    throw layoutError(layoutDir, `blob ${blob.digest} holds bytes whose digest is ${got}`);
  return bytes;
}

async function readJson<T>(layoutDir: string, file: string): Promise<T> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw layoutError(layoutDir, `cannot read ${path.basename(file)}`, error);
  }
  return parseJson<T>(layoutDir, bytes, path.basename(file));
}

function parseJson<T>(layoutDir: string, bytes: Buffer, what: string): T {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as T;
  } catch {
    // reported below
  }
  throw layoutError(layoutDir, `${what} is not a JSON object`);
}

function layoutError(layoutDir: string, why: string, cause?: unknown): RegistryError {
  return new RegistryError('BUILDIT_REGISTRY_LAYOUT', `OCI layout ${layoutDir}: ${why}`, {
    transient: false,
    hint: 'write the image again (buildit <dir>) before pushing it',
    ...(cause === undefined ? {} : { cause }),
  });
}
