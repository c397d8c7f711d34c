/**
 * Reading an OCI image layout back (ours, or one a user points at): the
 * manifest index.json names, its bytes checked against their digest, and
 * blob files checked against their descriptors' sizes. Problems are
 * `LayoutProblem`s; callers say in their own terms what they were doing.
 */
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';

export const REF_NAME = 'org.opencontainers.image.ref.name';
const DIGEST = /^sha256:([a-f0-9]{64})$/;

export class LayoutProblem extends Error {}

export interface Descriptor {
  mediaType?: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface LayoutManifest {
  /** index.json's descriptor of the manifest. */
  entry: Descriptor;
  /** The manifest's bytes, as stored (they hash to entry.digest). */
  bytes: Buffer;
  manifest: { mediaType?: string; config: Descriptor; layers: Descriptor[] };
}

/** The manifest tagged `tag`; without a tag, the layout's only (or first) manifest. */
export async function readLayoutManifest(layoutDir: string, tag?: string): Promise<LayoutManifest> {
  const index = await readJson<{ manifests?: Descriptor[] }>(path.join(layoutDir, 'index.json'));
  const manifests = Array.isArray(index.manifests) ? index.manifests : [];
  const entry = tag === undefined ? manifests[0] : manifests.find((m) => m.annotations?.[REF_NAME] === tag);
  if (!entry) {
    const tags = manifests.map((m) => m.annotations?.[REF_NAME]).filter((t) => t !== undefined);
    throw new LayoutProblem(
      tag === undefined
        ? 'index.json names no manifest'
        : `no manifest is tagged ${JSON.stringify(tag)} (it has ${tags.join(', ') || 'none'})`,
    );
  }
  const bytes = await readFile(await layoutBlobFile(layoutDir, entry));
  const got = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (got !== entry.digest)
    throw new LayoutProblem(`blob ${entry.digest} holds bytes whose digest is ${got}`);
  const manifest = parseJson<Partial<LayoutManifest['manifest']>>(bytes, entry.digest);
  if (!manifest.config || !Array.isArray(manifest.layers)) {
    throw new LayoutProblem(`${entry.digest} is not an image manifest (no config or layers)`);
  }
  return { entry, bytes, manifest: manifest as LayoutManifest['manifest'] };
}

/** The file holding a blob, checked to exist with the descriptor's size. */
export async function layoutBlobFile(layoutDir: string, blob: Descriptor): Promise<string> {
  const hex = DIGEST.exec(typeof blob.digest === 'string' ? blob.digest : '')?.[1];
  if (!hex || !Number.isSafeInteger(blob.size) || blob.size < 0) {
    throw new LayoutProblem(`a descriptor is malformed: ${JSON.stringify(blob).slice(0, 200)}`);
  }
  const file = path.join(layoutDir, 'blobs', 'sha256', hex);
  let size: number;
  try {
    size = (await stat(file)).size;
  } catch (error) {
    throw new LayoutProblem(`blob ${blob.digest} is missing`, { cause: error });
  }
  if (size !== blob.size)
    throw new LayoutProblem(`blob ${blob.digest} holds ${size} bytes, not ${blob.size}`);
  return file;
}

async function readJson<T>(file: string): Promise<T> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new LayoutProblem(`cannot read ${path.basename(file)}`, { cause: error });
  }
  return parseJson<T>(bytes, path.basename(file));
}

function parseJson<T>(bytes: Buffer, what: string): T {
  try {
    const value = JSON.parse(bytes.toString('utf8')) as unknown;
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as T;
  } catch {
    // reported below
  }
  throw new LayoutProblem(`${what} is not a JSON object`);
}
