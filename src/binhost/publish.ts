/**
 * Publishing to the repository (SPEC §3 steps 5 and 7): blobs first, each
 * record last and signed; every object under a temporary name then renamed
 * (the backends' put), so a reader never sees a partial object. Blobs the
 * binhost already has are skipped: they are named by their content.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { blobPath, recordPath } from '../store/layout.ts';
import { artifactHex, type PackageRecord } from '../store/record.ts';
import type { LocalStore } from '../store/store.ts';
import { signRecord, type SecretKey } from '../trust/keys.ts';
import type { BinhostBackend } from './types.ts';

export interface Upload {
  name: string;
  backend: BinhostBackend;
  signer?: SecretKey;
}

/** Put a blob unless present. */
async function putBlob(upload: Upload, store: LocalStore, hex: string): Promise<void> {
  const where = blobPath(hex);
  if (await upload.backend.has(where)) return;
  await upload.backend.put(where, () => store.openBlob(hex));
}

/** The package's artifact and distfiles, then its (signed) record. */
export async function publishPackage(
  upload: Upload,
  store: LocalStore,
  record: PackageRecord,
  distfiles: readonly string[],
): Promise<void> {
  await putBlob(upload, store, artifactHex(record));
  for (const hex of distfiles) if (await store.hasBlob(hex)) await putBlob(upload, store, hex);
  const signed = upload.signer
    ? signRecord(record as unknown as Record<string, unknown>, upload.signer)
    : record;
  const text = `${JSON.stringify(signed, null, 2)}\n`;
  await upload.backend.put(recordPath(record.target, record.id), () => Readable.from([Buffer.from(text)]));
}

/**
 * The resolved container spec and the images, under containers/<name>/<version>/.
 * An OCI layout's blobs go before its index.json, so the layout is complete once its index appears.
 */
export async function publishContainer(
  upload: Upload,
  name: string,
  version: string,
  files: { lock?: string; images: string[] },
): Promise<void> {
  const base = `containers/${safe(name)}/${safe(version)}`;
  for (const image of files.images) {
    const entries = await listFiles(image);
    if (entries === undefined) {
      await upload.backend.put(`${base}/${path.basename(image)}`, () => createReadStream(image));
      continue;
    }
    const ordered = [
      ...entries.filter((e) => e !== 'index.json'),
      ...entries.filter((e) => e === 'index.json'),
    ];
    for (const rel of ordered) {
      await upload.backend.put(`${base}/${path.basename(image)}/${rel}`, () =>
        createReadStream(path.join(image, rel)),
      );
    }
  }
  if (files.lock) await upload.backend.put(`${base}/container.lock`, () => createReadStream(files.lock!));
}

/** Every file below `dir` ('/'-separated, sorted), or undefined when it is a file. */
async function listFiles(dir: string): Promise<string[] | undefined> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true });
    return entries
      .filter((e) => e.isFile())
      .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** A container name or version as one path segment. */
function safe(segment: string): string {
  return segment.replace(/[^A-Za-z0-9._+-]/g, '_');
}
