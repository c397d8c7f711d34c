/**
 * `buildit sbom <image>`: the SBOM an image carries inside it (SPEC §6),
 * found in an OCI layout (its layers searched from the top down) or an ACI's
 * rootfs. Read from the image itself, not the file beside it: what is
 * printed is what ships.
 */
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { ReadEntry } from 'tar';
import { BuilditError } from '../errors.ts';
import { LayoutProblem, layoutBlobFile, readLayoutManifest } from './oci-read.ts';
import { SBOM_DIR } from './sbom.ts';
import { readTarGz } from './tar-read.ts';

/** An SBOM larger than this is not one buildit wrote. */
const MAX_SBOM_BYTES = 64 * 1024 * 1024;

export interface FoundSbom {
  /** Where it is in the image, e.g. `/usr/share/buildit/sbom/hello-1.0.spdx.json`. */
  path: string;
  text: string;
  document: Record<string, unknown>;
}

export async function readImageSbom(image: string): Promise<FoundSbom> {
  const info = await stat(image).catch(() => undefined);
  if (!info) throw notAnImage(image, 'no such file or folder');
  let found: { path: string; text: string } | undefined;
  if (info.isDirectory()) {
    if (!(await stat(path.join(image, 'oci-layout')).catch(() => undefined)))
      throw notAnImage(image, 'a folder without oci-layout is not an OCI image layout');
    found = await fromOci(image);
  } else {
    if (!(await isGzip(image))) throw notAnImage(image, "not an OCI layout folder or a gzip'd ACI");
    found = await fromTar(createReadStream(image), image, 'rootfs/');
  }
  if (!found) {
    throw new BuilditError('BUILDIT_SBOM_MISSING', `${image} carries no SBOM under /${SBOM_DIR}/`, {
      exitCode: 1,
      hint: 'images written by buildit carry one; rebuild the image with buildit',
    });
  }
  let document: unknown;
  try {
    document = JSON.parse(found.text);
  } catch (error) {
    throw new BuilditError(
      'BUILDIT_SBOM_INVALID',
      `${image}: ${found.path} is not JSON: ${(error as Error).message}`,
      {
        exitCode: 1,
      },
    );
  }
  return { ...found, document: document as Record<string, unknown> };
}

async function fromOci(layoutDir: string): Promise<{ path: string; text: string } | undefined> {
  try {
    const { manifest } = await readLayoutManifest(layoutDir);
    for (const layer of [...manifest.layers].reverse()) {
      const file = await layoutBlobFile(layoutDir, layer);
      const found = await fromTar(createReadStream(file), `${layoutDir} layer ${layer.digest}`, '');
      if (found) return found;
    }
    return undefined;
  } catch (error) {
    if (error instanceof LayoutProblem) throw notAnImage(layoutDir, error.message);
    throw error;
  }
}

/** The last SBOM file in a gzip'd tar whose filesystem starts at `root` (a later one wins, as in a merged filesystem). */
async function fromTar(
  source: Readable,
  what: string,
  root: '' | 'rootfs/',
): Promise<{ path: string; text: string } | undefined> {
  const prefix = `${root}${SBOM_DIR}/`;
  let found: { path: string; text: string } | undefined;
  await readTarGz(source, what, async (entry: ReadEntry) => {
    const name = entry.path.replace(/^\.\//, '');
    if (
      entry.type === 'File' &&
      name.startsWith(prefix) &&
      name.endsWith('.spdx.json') &&
      entry.size <= MAX_SBOM_BYTES
    ) {
      const chunks: Buffer[] = [];
      for await (const chunk of entry) chunks.push(chunk as Buffer);
      found = {
        path: `/${name.slice(root.length)}`,
        text: Buffer.concat(chunks).toString('utf8'),
      };
      return;
    }
    entry.resume();
  });
  return found;
}

async function isGzip(file: string): Promise<boolean> {
  const handle = await open(file, 'r');
  try {
    const magic = Buffer.alloc(2);
    await handle.read(magic, 0, 2, 0);
    return magic[0] === 0x1f && magic[1] === 0x8b;
  } finally {
    await handle.close();
  }
}

function notAnImage(image: string, why: string): BuilditError {
  return new BuilditError('BUILDIT_SBOM_IMAGE', `${image}: ${why}`, {
    location: { file: image },
    hint: 'name an image buildit wrote: <output>/<name>.oci or <output>/<name>-<os>-<arch>.aci',
  });
}
