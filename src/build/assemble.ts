/**
 * One image step's images: a layer per package (its artifact, unchanged) and
 * per sync step, then the SBOM layer; OCI on an optional base image, or ACI.
 * The image's shared libraries are checked here: every DT_NEEDED must be
 * provided by something in the image.
 */
import { createReadStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BuilditError } from '../errors.ts';
import type { Layer, ResolvedImage } from '../container/resolve.ts';
import { writeAci } from '../image/aci.ts';
import { OutputMemo } from '../image/reuse.ts';
import { mergeConfig } from '../image/base-config.ts';
import { digestHex, packLayer, type LayerBlob } from '../image/layer.ts';
import { writeOciLayout } from '../image/oci.ts';
import { sbomPathInImage } from '../image/sbom.ts';
import { syncEntries } from '../image/sync-layer.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode } from '../recipe/types.ts';
import { artifactHex, type PackageRecord } from '../store/record.ts';
import { renderTemplate } from '../template/render.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { Workspace } from '../workspace.ts';
import type { ImageReference } from '../registry/reference.ts';
import { describeImage, type ImageInventory } from './image-sbom.ts';
import { pullBase, pushImage, reference, type Registries } from './registry-steps.ts';

/** The default name of an image step's output. */
const DEFAULT_IMAGE_NAME = '{{ name }}-{{ version }}';

export type ImageEvent =
  | { type: 'image'; format: 'oci' | 'aci'; phase: 'start'; name: string }
  | {
      type: 'image';
      format: 'oci' | 'aci';
      phase: 'done';
      name: string;
      path: string;
      digest: string;
      sbom: string;
    }
  | { type: 'push'; ref: string; digest: string }
  | { type: 'warning'; message: string };

export interface AssembleContext {
  workspace: Workspace;
  /** Every package of the container's graph with its record. */
  records: ReadonlyMap<PackageNode, PackageRecord>;
  output: string;
  registries: Registries;
  /** `buildit push` references for this image. */
  extraPush: readonly ImageReference[];
  strictLibs: boolean;
  /** Store blobs the image uses besides package artifacts (a base image's layers), for gc to keep. */
  keepBlobs(hexes: readonly string[]): Promise<void>;
  on(event: ImageEvent): void;
}

export interface AssembledImage {
  format: 'oci' | 'aci';
  path: string;
  digest: string;
  sbom: string;
}

export async function assembleImage(image: ResolvedImage, ctx: AssembleContext): Promise<AssembledImage> {
  const { store } = ctx.workspace;
  const step = image.step;
  const name = renderTemplate(step.name ?? DEFAULT_IMAGE_NAME, image.vars, 'text', {
    ...(step.name ? step.locate.text(['name']) : { location: step.locate() }),
    what: 'image name',
  });
  if (!/^[A-Za-z0-9][A-Za-z0-9._+-]*$/.test(name)) {
    throw new BuilditError('BUILDIT_IMAGE_NAME', `image name "${name}" is not a valid file name`, {
      location: step.locate(step.name ? ['name'] : []),
      hint: 'letters, digits, ".", "_", "+" and "-"; set name: on the image step',
    });
  }
  ctx.on({ type: 'image', format: step.type, phase: 'start', name });
  const warn = (message: string) => ctx.on({ type: 'warning', message });
  const work = await store.tempDir('image');
  try {
    const epoch = imageEpoch();
    const contents = await imageLayers(ctx, image.layers, work, epoch);
    const base =
      step.type === 'oci' && step.base
        ? await pullBase(
            reference(step.base, step.locate(['base'])),
            image.target,
            store,
            ctx.registries,
            warn,
          )
        : undefined;
    if (base) await ctx.keepBlobs(base.layers.map((layer) => digestHex(layer.digest)));
    const sbom = await describeImage({
      name,
      version: image.vars['version'] ?? 'latest',
      epoch,
      records: ctx.records,
      inImage: contents.packages,
      syncPaths: contents.syncPaths,
      baseLayers: base?.layers ?? [],
      store,
      work,
      strictLibs: ctx.strictLibs,
      warn,
    });
    const layers = [...contents.layers, await sbomLayer(sbom, name, work, epoch)];
    let target: string;
    let digest: string;
    if (step.type === 'oci') {
      target = path.join(ctx.output, `${name}.oci`);
      const tag = step.tag ?? image.vars['version'] ?? 'latest';
      const result = await writeOciLayout(target, {
        layers: [...(base?.layers ?? []), ...layers],
        config: mergeConfig(base?.config, image.content as Record<string, unknown>),
        os: image.target.os,
        arch: image.target.arch,
        created: epoch,
        tag,
        ...(image.vars['author'] ? { author: image.vars['author'] } : {}),
      });
      digest = result.manifestDigest;
      const sbomFile = await writeSidecar(target, sbom);
      ctx.on({ type: 'image', format: 'oci', phase: 'done', name, path: target, digest, sbom: sbomFile });
      const refs = [
        ...step.push.map((text, i) => reference(text, step.locate(['push', i]))),
        ...ctx.extraPush,
      ];
      for (const pushed of await pushImage(target, tag, refs, ctx.registries, base?.ref, warn)) {
        ctx.on({ type: 'push', ref: pushed.ref, digest: pushed.digest });
      }
      return { format: 'oci', path: target, digest, sbom: sbomFile };
    }
    target = path.join(ctx.output, `${name}-${image.target.os}-${image.target.arch}.aci`);
    const result = await writeAci(target, {
      layers,
      manifest: image.content as Record<string, unknown>,
      os: image.target.os,
      arch: image.target.arch,
      mtime: epoch,
      memo: new OutputMemo(path.join(store.root, 'cache', 'images')),
    });
    const sbomFile = await writeSidecar(target, sbom);
    ctx.on({
      type: 'image',
      format: 'aci',
      phase: 'done',
      name,
      path: target,
      digest: result.imageId,
      sbom: sbomFile,
    });
    return { format: 'aci', path: target, digest: result.imageId, sbom: sbomFile };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Images are dated SOURCE_DATE_EPOCH when the caller sets it, else the epoch itself. */
function imageEpoch(): number {
  const value = Number(process.env['SOURCE_DATE_EPOCH'] ?? 0);
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

/** The SBOM beside the image: `<image file or folder name>.spdx.json` (SPEC §6). */
async function writeSidecar(target: string, sbom: ImageInventory): Promise<string> {
  const file = `${target}.spdx.json`;
  await writeFileAtomic(file, sbom.text);
  return file;
}

/** The SBOM inside the image, as the last layer: `/usr/share/buildit/sbom/<name>.spdx.json`. */
async function sbomLayer(
  sbom: ImageInventory,
  name: string,
  work: string,
  epoch: number,
): Promise<LayerBlob> {
  const bytes = Buffer.from(sbom.text);
  const parts = sbomPathInImage(name).split('/');
  const entries = [
    ...parts.slice(0, -1).map((_, i) => ({
      path: parts.slice(0, i + 1).join('/'),
      type: 'dir' as const,
      mode: 0o755,
    })),
    {
      path: parts.join('/'),
      type: 'file' as const,
      mode: 0o644,
      size: bytes.length,
      open: () => Readable.from([bytes]),
    },
  ];
  const file = path.join(work, 'sbom.tar.gz');
  const packed = await packLayer(entries, { mtime: epoch, file });
  return {
    ...packed,
    open: () => createReadStream(file),
    createdBy: `buildit sbom ${sbomPathInImage(name)}`,
  };
}

interface ImageContents {
  layers: LayerBlob[];
  /** Packages installed in the image, each once, in layer order. */
  packages: PackageNode[];
  /** Paths the sync layers put in the image (they may provide libraries too). */
  syncPaths: string[];
}

/**
 * One layer per package (its artifact, unchanged), its run dependencies
 * (transitively, each once per image) before it; one layer per sync step.
 */
async function imageLayers(
  ctx: AssembleContext,
  layers: readonly Layer[],
  work: string,
  epoch: number,
): Promise<ImageContents> {
  const out: ImageContents = { layers: [], packages: [], syncPaths: [] };
  const { store } = ctx.workspace;
  const included = new Set<string>();
  const addPackage = (node: PackageNode) => {
    for (const dep of node.deps.run) addPackage(dep);
    const record = ctx.records.get(node)!;
    if (included.has(record.id)) return;
    included.add(record.id);
    out.packages.push(node);
    const hex = artifactHex(record);
    out.layers.push({
      digest: record.artifact.digest,
      diffId: record.artifact.diffId,
      size: record.artifact.size,
      mediaType: record.artifact.mediaType,
      open: () => store.openBlob(hex),
      // The store verified the blob when it was written: the image writer may hardlink it.
      file: store.blobFile(hex),
      createdBy: `buildit package ${formatAtom(node.atom)} ${record.id}`,
    });
  };
  for (const [i, layer] of layers.entries()) {
    if (layer.kind === 'package') {
      addPackage(layer.pkg.node);
      continue;
    }
    const { sync } = layer;
    const file = path.join(work, `sync-${i}.tar.gz`);
    const entries = await syncEntries([
      {
        src: sync.src,
        isDir: sync.isDir,
        dest: sync.step.dest,
        ...(sync.step.mode === undefined ? {} : { mode: sync.step.mode }),
        owner: sync.step.owner,
      },
    ]);
    out.syncPaths.push(...entries.filter((e) => e.type !== 'dir').map((e) => `/${e.path}`));
    const packed = await packLayer(entries, { mtime: epoch, file });
    out.layers.push({
      ...packed,
      open: () => createReadStream(file),
      createdBy: `buildit sync ${sync.step.src} ${sync.step.dest}`,
    });
  }
  return out;
}
