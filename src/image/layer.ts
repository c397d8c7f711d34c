/**
 * Layers: a deterministic tar, gzip'd, as one blob. Both digests an image needs (the blob's, for
 * the manifest, and the tar's, the diff_id) are taken while the bytes stream to disk once.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { chmod } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestTap } from './digest-tap.ts';
import { deterministicGzip } from './gzip.ts';
import { writeOutput } from './output.ts';
import { tarStream, type TarEntry } from './tar.ts';

export const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar+gzip';

/** What identifies a layer blob; the same fields a binhost record's `artifact` holds. */
export interface LayerInfo {
  /** `sha256:<hex>` of the gzip'd bytes: the blob's name. */
  digest: string;
  /** `sha256:<hex>` of the uncompressed tar: the layer's identity (`rootfs.diff_ids`). */
  diffId: string;
  /** Bytes of the gzip'd blob. */
  size: number;
  mediaType: typeof LAYER_MEDIA_TYPE;
}

export interface LayerBlob extends LayerInfo {
  /** The gzip'd bytes. Called once per use; each call must give a fresh stream from the start. */
  open(): Readable;
  /** For the image history, e.g. `buildit package app-misc/hello-1.0 <id>`. */
  createdBy: string;
  /**
   * The blob as a file on this machine, when it is one: image writers then try a hardlink before
   * copying. Whoever sets it vouches that the file holds exactly `digest` (the store verifies on
   * read, see store.ts); a copy through `open()` is verified as it streams.
   */
  file?: string;
}

export interface PackOptions {
  /** SOURCE_DATE_EPOCH: every entry's mtime. */
  mtime: number;
  /** Where the gzip'd layer goes; written atomically. */
  file: string;
}

/** Packs `entries` (already sorted, as scanTree gives them) into a gzip'd layer at `options.file`. */
export async function packLayer(
  entries: Iterable<TarEntry> | AsyncIterable<TarEntry>,
  options: PackOptions,
): Promise<LayerInfo & { file: string }> {
  const tar = new DigestTap('sha256');
  const gz = new DigestTap('sha256');
  await writeOutput(options.file, async ({ temp }) => {
    const out = createWriteStream(temp, { flags: 'wx' });
    await pipeline(tarStream(entries, { mtime: options.mtime }), tar, deterministicGzip(), gz, out);
    await chmod(temp, 0o644);
  });
  return {
    digest: `sha256:${gz.hex}`,
    diffId: `sha256:${tar.hex}`,
    size: gz.size,
    mediaType: LAYER_MEDIA_TYPE,
    file: options.file,
  };
}

/** A layer blob that already is a file (a store artifact, a packed sync layer). */
export function layerFromFile(
  file: string,
  meta: Omit<LayerInfo, 'mediaType'> & { createdBy: string; mediaType?: typeof LAYER_MEDIA_TYPE },
): LayerBlob {
  return {
    digest: meta.digest,
    diffId: meta.diffId,
    size: meta.size,
    mediaType: meta.mediaType ?? LAYER_MEDIA_TYPE,
    createdBy: meta.createdBy,
    file,
    open: () => createReadStream(file),
  };
}

/** The hex part of `sha256:<hex>`, checked: digests become file names. */
export function digestHex(digest: string): string {
  const m = /^sha256:([0-9a-f]{64})$/.exec(digest);
  if (!m?.[1]) throw new Error(`not a sha256 digest: ${JSON.stringify(digest)}`);
  return m[1];
}
