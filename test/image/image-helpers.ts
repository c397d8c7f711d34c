/** Helpers for the image writer tests: layers from temp trees, and the real tools that check images. */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import type { TestContext } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { layerFromFile, packLayer, type LayerBlob } from '../../src/image/layer.ts';
import type { TarEntry } from '../../src/image/tar.ts';
import { scanTree } from '../../src/image/tree.ts';
import { runTool } from '../helpers/tools.ts';
import { tempDir, writeTree, type Node } from './helpers.ts';

export const EPOCH = 1700000000;

/** Runs a tool in a fixed locale and time zone (see test/helpers/tools.ts). */
export function tool(cmd: string, args: string[]): { stdout: string; stderr: string } {
  return runTool(cmd, args, { env: { ...process.env, TZ: 'UTC', LC_ALL: 'C.UTF-8' } });
}

/** A layer packed from a tree written under a fresh temp dir. */
export async function treeLayer(
  t: TestContext,
  spec: [string, Node][],
  createdBy = 'test layer',
  mtime = EPOCH,
): Promise<LayerBlob> {
  const dir = tempDir(t);
  writeTree(join(dir, 'tree'), spec);
  return entriesLayer(t, await scanTree(join(dir, 'tree'), { normalizeModes: false }), createdBy, mtime, dir);
}

export async function entriesLayer(
  t: TestContext,
  entries: TarEntry[],
  createdBy = 'test layer',
  mtime = EPOCH,
  dir = tempDir(t),
): Promise<LayerBlob> {
  const file = join(dir, 'layer.tar.gz');
  const info = await packLayer(entries, { mtime, file });
  return layerFromFile(file, { ...info, createdBy });
}

/** A layer from a gzip'd tar that some other packer made (GNU tar), without a file to hardlink. */
export function bytesLayer(gz: Buffer, createdBy = 'foreign layer'): LayerBlob {
  return {
    digest: `sha256:${sha256(gz)}`,
    diffId: `sha256:${sha256(gunzipSync(gz))}`,
    size: gz.length,
    mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
    createdBy,
    open: () => Readable.from([gz]),
  };
}

/** A layer whose stream breaks after some bytes: a network or disk failure halfway. */
export function brokenLayer(good: LayerBlob): LayerBlob {
  return {
    ...good,
    file: undefined,
    open: () => {
      const out = new PassThrough();
      const bytes = good.file ? readFileSync(good.file) : Buffer.alloc(0);
      out.write(bytes.subarray(0, Math.floor(bytes.length / 2)));
      setImmediate(() => out.destroy(new Error('disk on fire')));
      return out;
    },
  };
}

export function sha256(bytes: Buffer | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export function file(path: string, content: string | Buffer, mode = 0o644): TarEntry {
  const bytes = Buffer.from(content);
  return { path, type: 'file', mode, size: bytes.length, open: () => Readable.from([bytes]) };
}

export function dir(path: string, mode = 0o755): TarEntry {
  return { path, type: 'dir', mode };
}

/** The JSON at blobs/sha256/<hex> of a layout. */
export function blobJson(layout: string, digest: string): Record<string, unknown> {
  return JSON.parse(
    readFileSync(join(layout, 'blobs', 'sha256', digest.replace('sha256:', '')), 'utf8'),
  ) as Record<string, unknown>;
}
