/**
 * App Container Images (SPEC §6): a gzip'd tar of `manifest` (the rendered appc ImageManifest)
 * and `rootfs/`, every layer merged in order. The image ID is over the uncompressed tar, so it does
 * not depend on the gzip implementation.
 */
import { createWriteStream } from 'node:fs';
import { chmod } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { canonicalJson } from '../identity/canonical.ts';
import { BUILDIT_VERSION } from '../version.ts';
import { DigestTap } from './digest-tap.ts';
import { deterministicGzip, GZIP_CHUNK } from './gzip.ts';
import type { LayerBlob } from './layer.ts';
import { mergeLayers, type Merged } from './merge.ts';
import { writeOutput } from './output.ts';
import { IMPLICIT_DIR } from './overlay.ts';
import type { OutputMemo } from './reuse.ts';
import { tarStream, type TarEntry } from './tar.ts';

export interface AciImage {
  /** Bottom first; a later layer wins at the same path. */
  layers: readonly LayerBlob[];
  /** The rendered `content`, already valid (content-schema.ts). */
  manifest: Record<string, unknown>;
  /** OCI platform names (linux, amd64, arm64, ...); labels use appc's names. */
  os: string;
  arch: string;
  /** SOURCE_DATE_EPOCH: every entry's mtime. */
  mtime: number;
  /**
   * Where written ACIs are remembered (`new OutputMemo(<store>/cache/images)`): the same image at
   * the same path is then verified by its sha256 instead of being merged and deflated again.
   */
  memo?: OutputMemo;
}

const GZIP_LEVEL = 6;

/** Writes the ACI at `outFile` atomically; returns its image ID (`sha512-` + 128 hex digits). */
export async function writeAci(outFile: string, image: AciImage): Promise<{ imageId: string }> {
  const manifest = Buffer.from(
    canonicalJson(withPlatformLabels(image.manifest, image.os, image.arch)),
    'utf8',
  );
  // Everything the bytes depend on: the layers, the manifest, the epoch, the gzip and this code.
  const inputs = canonicalJson({
    writer: `buildit ${BUILDIT_VERSION} aci/1`,
    gzip: { level: GZIP_LEVEL, chunk: GZIP_CHUNK, zlib: process.versions.zlib },
    layers: image.layers.map((l) => l.digest),
    manifest: manifest.toString('utf8'),
    mtime: image.mtime,
  });
  const known = await image.memo?.find(outFile, inputs);
  if (known !== undefined) return { imageId: known };
  const written = await writeOutput(outFile, async ({ temp, scratch }) => {
    // Spooled bodies live beside the output: same disk the image is going to, never in memory.
    const merged = await mergeLayers(image.layers, { scratch: await scratch(), mode: 'rootfs' });
    try {
      return await writeTar(temp, manifest, merged, image.mtime);
    } finally {
      await merged.close();
    }
  });
  const { imageId, sha256, size } = written;
  await image.memo?.remember(outFile, inputs, { digest: imageId, sha256, size });
  return { imageId };
}

/** The ACI's tar, gzip'd into `temp`: its image ID (over the tar) and the file's own sha256 and size. */
async function writeTar(
  temp: string,
  manifest: Buffer,
  merged: Merged,
  mtime: number,
): Promise<{ imageId: string; sha256: string; size: number }> {
  const entries: TarEntry[] = [
    {
      path: 'manifest',
      type: 'file',
      mode: 0o644,
      size: manifest.length,
      open: () => Readable.from([manifest]),
    },
    { path: 'rootfs', type: 'dir', ...(merged.root ?? IMPLICIT_DIR) },
    ...merged.entries.map((e) => underRootfs(e)),
  ];
  const tar = new DigestTap('sha512');
  const gz = new DigestTap('sha256');
  const out = createWriteStream(temp, { flags: 'wx' });
  await pipeline(tarStream(entries, { mtime }), tar, deterministicGzip(GZIP_LEVEL), gz, out);
  await chmod(temp, 0o644);
  return { imageId: `sha512-${tar.hex}`, sha256: gz.hex, size: gz.size };
}

function underRootfs(entry: TarEntry): TarEntry {
  const path = `rootfs/${entry.path}`;
  return entry.type === 'hardlink'
    ? { ...entry, path, target: `rootfs/${entry.target}` }
    : { ...entry, path };
}

/**
 * The manifest with `os` and `arch` labels added when the user did not set them. Everything the
 * user wrote is kept as written (labels in their order, the new ones after).
 */
export function withPlatformLabels(
  manifest: Record<string, unknown>,
  os: string,
  arch: string,
): Record<string, unknown> {
  const given = manifest['labels'] ?? [];
  if (!Array.isArray(given)) throw new Error('ACI manifest: labels must be an array of {name, value}');
  const labels: unknown[] = [...given];
  const has = (name: string): boolean =>
    labels.some((l) => typeof l === 'object' && l !== null && (l as { name?: unknown }).name === name);
  if (!has('os')) labels.push({ name: 'os', value: os });
  if (!has('arch')) labels.push({ name: 'arch', value: appcArch(os, arch) });
  return { ...manifest, labels };
}

/**
 * appc names some architectures after `uname -m` rather than Go (spec's ValidOSArch): arm64 is
 * aarch64 and 386 is i386 on Linux; amd64 is x86_64 on Darwin. 32-bit arm becomes armv7l, the
 * variant every current arm board runs. Anything else is passed through.
 */
export function appcArch(os: string, arch: string): string {
  const table: Record<string, Record<string, string>> = {
    linux: { arm64: 'aarch64', '386': 'i386', arm: 'armv7l' },
    freebsd: { '386': 'i386' },
    darwin: { amd64: 'x86_64', '386': 'i386' },
  };
  return table[os]?.[arch] ?? arch;
}
