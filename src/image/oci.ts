/**
 * OCI image layout 1.0.0 (SPEC §6): `oci-layout`, `index.json` naming one manifest by its tag, and
 * `blobs/sha256/` holding the layers, the image config and the manifest. Every JSON document is
 * canonical (RFC 8785: sorted keys, no spaces), so the manifest digest depends on the content only.
 */
import { createHash } from 'node:crypto';
import { constants, createWriteStream } from 'node:fs';
import { chmod, copyFile, link, mkdir, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BuilditError } from '../errors.ts';
import { canonicalJson } from '../identity/canonical.ts';
import { isNotFound } from '../util/fs.ts';
import { DigestTap } from './digest-tap.ts';
import { layerFromFile, packLayer, digestHex, type LayerBlob } from './layer.ts';
import { mergeLayers, planMerge } from './merge.ts';
import { writeOutput } from './output.ts';

export const MANIFEST_MEDIA_TYPE = 'application/vnd.oci.image.manifest.v1+json';
export const CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
export const INDEX_MEDIA_TYPE = 'application/vnd.oci.image.index.v1+json';
export const REF_NAME = 'org.opencontainers.image.ref.name';
/** Runtimes stack layers with overlayfs, whose mount options cap the count well below 128. */
export const MAX_LAYERS = 100;

export interface OciImage {
  /** Bottom first. */
  layers: readonly LayerBlob[];
  /** The rendered `content`: the image config's `config` object (Entrypoint, Env, ...). */
  config: Record<string, unknown>;
  /** OCI platform names: linux, amd64, arm64, ... */
  os: string;
  arch: string;
  /** SOURCE_DATE_EPOCH, seconds: the config's and every history entry's `created`. */
  created: number;
  /** `org.opencontainers.image.ref.name` in index.json: what `oci:<layout>:<tag>` finds. */
  tag: string;
  author?: string;
  /** Default MAX_LAYERS; lower it for tests or registries with tighter limits. */
  maxLayers?: number;
}

export interface OciWritten {
  /** `sha256:…` of the manifest: the image's digest. */
  manifestDigest: string;
  configDigest: string;
  /** Bytes of the manifest. */
  size: number;
}

/**
 * Writes the layout at `outDir` (replacing an earlier one) atomically. A layer with a `file` (a
 * store blob, a packed layer) is hard-linked, or copied by the kernel on another filesystem, and
 * its size checked; one without is copied through `open()`, its digest checked as it streams.
 */
export async function writeOciLayout(outDir: string, image: OciImage): Promise<OciWritten> {
  checkTag(image.tag);
  const created = isoSeconds(image.created);
  return writeOutput(outDir, async ({ temp, scratch }) => {
    const blobs = path.join(temp, 'blobs', 'sha256');
    await mkdir(blobs, { recursive: true });
    for (const dir of [temp, path.join(temp, 'blobs'), blobs]) await chmod(dir, 0o755);

    const layers = await limitLayers(image, scratch);
    for (const layer of layers) await placeLayer(blobs, layer);

    const config = {
      architecture: image.arch,
      os: image.os,
      created,
      ...(image.author === undefined ? {} : { author: image.author }),
      config: image.config,
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
      history: layers.map((l) => ({ created, created_by: l.createdBy })),
    };
    const configBlob = await writeJsonBlob(blobs, config);
    const manifest = {
      schemaVersion: 2,
      mediaType: MANIFEST_MEDIA_TYPE,
      config: { mediaType: CONFIG_MEDIA_TYPE, ...configBlob },
      layers: layers.map((l) => ({ mediaType: l.mediaType, digest: l.digest, size: l.size })),
    };
    const manifestBlob = await writeJsonBlob(blobs, manifest);
    const index = {
      schemaVersion: 2,
      mediaType: INDEX_MEDIA_TYPE,
      manifests: [
        {
          mediaType: MANIFEST_MEDIA_TYPE,
          ...manifestBlob,
          platform: { architecture: image.arch, os: image.os },
          annotations: { [REF_NAME]: image.tag },
        },
      ],
    };
    await writeJson(path.join(temp, 'index.json'), index);
    await writeJson(path.join(temp, 'oci-layout'), { imageLayoutVersion: '1.0.0' });
    return { manifestDigest: manifestBlob.digest, configDigest: configBlob.digest, size: manifestBlob.size };
  });
}

/**
 * At most `maxLayers`: the smallest adjacent layers are merged (planMerge) by re-packing the union
 * of their entries, later layers winning, whiteouts kept for the layers below (mergeLayers 'layer').
 * The merged layer's history names every layer it replaces.
 */
async function limitLayers(image: OciImage, scratch: () => Promise<string>): Promise<readonly LayerBlob[]> {
  const max = image.maxLayers ?? MAX_LAYERS;
  if (image.layers.length <= max) return image.layers;
  const out: LayerBlob[] = [];
  for (const [g, group] of planMerge(
    image.layers.map((l) => l.size),
    max,
  ).entries()) {
    const members = group.map((i) => image.layers[i]!);
    if (members.length === 1) {
      out.push(members[0]!);
      continue;
    }
    const work = path.join(await scratch(), `merge-${g}`);
    await mkdir(work);
    const merged = await mergeLayers(members, { scratch: work, mode: 'layer' });
    const file = path.join(await scratch(), `merged-${g}.tar.gz`);
    let info: Awaited<ReturnType<typeof packLayer>>;
    try {
      info = await packLayer(merged.entries, { mtime: image.created, file });
    } finally {
      await merged.close();
    }
    await rm(work, { recursive: true, force: true });
    out.push(layerFromFile(file, { ...info, createdBy: members.map((m) => m.createdBy).join('; ') }));
  }
  return out;
}

async function placeLayer(blobs: string, layer: LayerBlob): Promise<void> {
  const dest = path.join(blobs, digestHex(layer.digest));
  if (await exists(dest)) return; // the same layer twice in one image
  if (layer.file === undefined) return copyLayer(dest, layer);
  try {
    await link(layer.file, dest);
  } catch {
    // EXDEV (another filesystem), EPERM (fs.protected_hardlinks), EMLINK: the kernel copies
    // (copy_file_range; a reflink where the filesystem can). The file is the store's, checked by
    // its digest when it was stored, so it is trusted as the hard link trusts it: size checked.
    try {
      await copyFile(layer.file, dest, constants.COPYFILE_EXCL);
      await chmod(dest, 0o644);
    } catch {
      // a moved or unreadable file: stream it through open(), digest checked
      await rm(dest, { force: true });
      return copyLayer(dest, layer);
    }
  }
  const { size } = await stat(dest);
  if (size !== layer.size) {
    throw new Error(`layer ${layer.createdBy}: ${layer.file} holds ${size} bytes, not ${layer.size}`);
  }
}

async function copyLayer(dest: string, layer: LayerBlob): Promise<void> {
  const tap = new DigestTap('sha256');
  await pipeline(layer.open(), tap, createWriteStream(dest, { flags: 'wx' }));
  if (`sha256:${tap.hex}` !== layer.digest || tap.size !== layer.size) {
    throw new Error(
      `layer ${layer.createdBy}: its bytes (sha256:${tap.hex}, ${tap.size} bytes) are not ${layer.digest} (${layer.size} bytes)`,
    );
  }
  await chmod(dest, 0o644);
}

async function writeJsonBlob(blobs: string, value: unknown): Promise<{ digest: string; size: number }> {
  const bytes = Buffer.from(canonicalJson(value), 'utf8');
  const hex = createHash('sha256').update(bytes).digest('hex');
  await writeJson(path.join(blobs, hex), bytes);
  return { digest: `sha256:${hex}`, size: bytes.length };
}

async function writeJson(file: string, value: unknown): Promise<void> {
  const bytes = Buffer.isBuffer(value) ? value : Buffer.from(canonicalJson(value), 'utf8');
  await writeFile(file, bytes, { flag: 'wx' });
  await chmod(file, 0o644);
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch (error) {
    if (isNotFound(error)) return false;
    throw error;
  }
}

/** `2023-11-14T22:13:20Z`: RFC 3339 in UTC, without the fraction a whole second does not need. */
export function isoSeconds(epoch: number): string {
  if (!Number.isInteger(epoch) || epoch < 0)
    throw new Error(`created must be whole seconds ≥ 0, got ${epoch}`);
  return new Date(epoch * 1000).toISOString().replace(/\.000Z$/, 'Z');
}

// The grammar of org.opencontainers.image.ref.name (image-spec annotations.md).
const COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

function checkTag(tag: string): void {
  if (REF.test(tag)) return;
  throw new BuilditError(
    'BUILDIT_IMAGE_TAG',
    `OCI tag ${JSON.stringify(tag)} is not a valid reference name`,
    {
      hint: 'letters and digits separated by single "-", ".", "_", ":", "@" or "+" (or "--"), e.g. 1.7.6-p1',
    },
  );
}
