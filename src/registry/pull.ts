/**
 * Resolves a base image on a registry: its manifest (picking the target
 * platform out of an index or Docker manifest list), its parsed config and
 * its layer descriptors. Every document is verified against its digest by
 * the client; the layers' bytes are fetched later, by whoever stores them.
 */
import type { Readable } from 'node:stream';
import type { Manifest, RegistryClient } from './client.ts';
import { RegistryError } from './errors.ts';
import { ALL_MANIFEST_TYPES, INDEX_TYPES, MANIFEST_TYPES } from './media-types.ts';
import { type ImageReference, formatReference, manifestReference } from './reference.ts';

export interface Platform {
  os: string;
  arch: string;
  variant?: string;
}

export interface LayerDescriptor {
  digest: string;
  size: number;
  mediaType: string;
}

export interface ResolvedBase {
  /** The image manifest for the platform. */
  manifest: Manifest;
  config: Record<string, unknown>;
  configDigest: string;
  layers: LayerDescriptor[];
  /** `ref` pinned: its digest is that of what the tag named (the index, for a multi-platform image). */
  source: ImageReference;
}

interface IndexEntry {
  digest?: unknown;
  mediaType?: unknown;
  platform?: { os?: unknown; architecture?: unknown; variant?: unknown };
}

const CONFIG_LIMIT = 4 * 1024 * 1024;

export async function resolveBase(
  ref: ImageReference,
  client: RegistryClient,
  platform: Platform,
): Promise<ResolvedBase> {
  const top = await client.getManifest(ref.repository, manifestReference(ref), ALL_MANIFEST_TYPES);
  const topValue = parseDocument(ref, top);
  let manifest = top;
  let value = topValue;
  if (INDEX_TYPES.includes(top.mediaType) || Array.isArray(topValue.manifests)) {
    const entry = pickPlatform(ref, (topValue.manifests ?? []) as IndexEntry[], platform);
    manifest = await client.getManifest(ref.repository, entry.digest as string, MANIFEST_TYPES);
    value = parseDocument(ref, manifest);
  }
  if (!MANIFEST_TYPES.includes(manifest.mediaType) && !(value.config && Array.isArray(value.layers))) {
    throw new RegistryError(
      'BUILDIT_REGISTRY_REJECTED',
      `${ref.text}: ${manifest.digest} is a ${manifest.mediaType || 'document of no media type'}, not an image manifest`,
      { transient: false, hint: 'buildit reads OCI and Docker v2 schema 2 images' },
    );
  }
  const config = descriptor(ref, value.config, 'config');
  const layers = ((value.layers ?? []) as unknown[]).map((l, i) => descriptor(ref, l, `layer ${i + 1}`));
  const configBytes = await readAll(await client.getBlob(ref.repository, config.digest), CONFIG_LIMIT, ref);
  let parsed: unknown;
  try {
    parsed = JSON.parse(configBytes.toString('utf8'));
  } catch {
    parsed = undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new RegistryError(
      'BUILDIT_REGISTRY_REJECTED',
      `${ref.text}: the image config is not a JSON object`,
      {
        transient: false,
      },
    );
  }
  const source: ImageReference = { ...ref, digest: top.digest };
  source.text = formatReference(source);
  return {
    manifest,
    config: parsed as Record<string, unknown>,
    configDigest: config.digest,
    layers,
    source,
  };
}

/** Pure: the index entry for `platform`; BUILDIT_REGISTRY_PLATFORM listing what there is otherwise. */
export function pickPlatform(
  ref: ImageReference,
  entries: readonly IndexEntry[],
  platform: Platform,
): IndexEntry {
  const matches = entries.filter(
    (e) =>
      typeof e.digest === 'string' &&
      e.platform?.os === platform.os &&
      e.platform?.architecture === platform.arch &&
      (platform.variant === undefined ||
        e.platform.variant === undefined ||
        e.platform.variant === platform.variant),
  );
  // An exact variant first, then none named (arm64's v8 is often left out).
  const best =
    matches.find((e) => platform.variant !== undefined && e.platform?.variant === platform.variant) ??
    matches[0];
  if (best) return best;
  const have = entries
    .map((e) => e.platform)
    .filter((p) => p && p.os !== 'unknown')
    .map((p) => [p!.os, p!.architecture, p!.variant].filter((x) => typeof x === 'string').join('/'));
  const wanted = [platform.os, platform.arch, platform.variant].filter(Boolean).join('/');
  throw new RegistryError(
    'BUILDIT_REGISTRY_PLATFORM',
    `${ref.text} has no image for ${wanted}; it has ${have.length ? [...new Set(have)].join(', ') : 'no platforms listed'}`,
    { transient: false, hint: 'pick a base image built for the target platform, or change the os/arch vars' },
  );
}

function parseDocument(ref: ImageReference, manifest: Manifest): Record<string, unknown> {
  try {
    const value = JSON.parse(manifest.bytes.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      const doc = value as Record<string, unknown>;
      if (doc.schemaVersion === 1) {
        throw new RegistryError('BUILDIT_REGISTRY_REJECTED', `${ref.text} is a Docker schema 1 image`, {
          transient: false,
          hint: 'schema 1 is deprecated; pick a newer base image',
        });
      }
      return doc;
    }
  } catch (error) {
    if (error instanceof RegistryError) throw error;
  }
  throw new RegistryError(
    'BUILDIT_REGISTRY_REJECTED',
    `${ref.text}: manifest ${manifest.digest} is not JSON`,
    {
      transient: false,
    },
  );
}

function descriptor(ref: ImageReference, value: unknown, what: string): LayerDescriptor {
  const d = (value ?? {}) as { digest?: unknown; size?: unknown; mediaType?: unknown };
  if (
    typeof d.digest !== 'string' ||
    !/^sha256:[a-f0-9]{64}$/.test(d.digest) ||
    typeof d.size !== 'number' ||
    !Number.isSafeInteger(d.size) ||
    d.size < 0
  ) {
    throw new RegistryError(
      'BUILDIT_REGISTRY_REJECTED',
      `${ref.text}: the manifest's ${what} descriptor is malformed`,
      {
        transient: false,
      },
    );
  }
  return { digest: d.digest, size: d.size, mediaType: typeof d.mediaType === 'string' ? d.mediaType : '' };
}

async function readAll(stream: Readable, limit: number, ref: ImageReference): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      stream.destroy();
      throw new RegistryError(
        'BUILDIT_REGISTRY_REJECTED',
        `${ref.text}: the image config is over ${limit} bytes`,
        {
          transient: false,
        },
      );
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
