/**
 * The sources stage of a build: a resolved package in, a patched source tree
 * out. Everything is fetched and verified first (a dead link fails in
 * seconds, not after an unpack), then unpacked in order, then patched.
 *
 * Local tarballs and patches go through the store too, checked against the
 * sha256 their identity was computed from: the tree is built from the bytes
 * the identity names, even if the file changed since (or changes while we
 * read it), and the store then holds every distfile a rebuild needs.
 */
import { constants, createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuilditError } from '../errors.ts';
import type { PackageNode, ResolvedPatch, ResolvedSource } from '../recipe/types.ts';
import type { LocalStore } from '../store/store.ts';
import { isNotFound } from '../util/fs.ts';
import { redactUrl } from '../util/redact.ts';
import { fetchDistfile } from './fetch.ts';
import { applyPatches, type PatchToApply } from './patch.ts';
import { copyTree, detectArchive, unpackArchive } from './unpack.ts';

export interface PrepareSourcesOptions {
  fetch?: typeof fetch;
  /** Told, with the redacted URL, of each download (not of store hits). */
  onFetch?: (url: string) => void;
  signal?: AbortSignal;
}

export interface PreparedSources {
  /** Remote patches fetched for the first time (trust on first use): URL → sha256, for container.lock. */
  pinned: Map<string, string>;
}

export async function prepareSources(
  store: LocalStore,
  node: PackageNode,
  srcDir: string,
  options: PrepareSourcesOptions = {},
): Promise<PreparedSources> {
  const pinned = new Map<string, string>();
  const download = (url: string, sha256: string | undefined) =>
    fetchDistfile(store, url, sha256, {
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onFetch ? { onNetwork: options.onFetch } : {}),
    });

  const blobs: (string | undefined)[] = [];
  for (const source of node.sources) {
    blobs.push(
      await at(source, async () => {
        if (source.kind === 'url') return (await download(source.url, source.sha256)).hex;
        return source.type === 'file' ? snapshot(store, source.path, source.sha256, source) : undefined;
      }),
    );
  }
  const patches: PatchToApply[] = [];
  for (const patch of node.patches) {
    const file = await at(patch, async () => {
      if (patch.kind === 'url') {
        const got = await download(patch.ref, patch.sha256);
        if (patch.sha256 === undefined) pinned.set(patch.ref, got.hex);
        return store.blobFile(got.hex);
      }
      if (patch.sha256 === undefined) return patch.ref;
      return store.blobFile(await snapshot(store, patch.ref, patch.sha256, patch));
    });
    patches.push({
      file,
      strip: patch.strip,
      label: patch.kind === 'url' ? redactUrl(patch.ref) : patch.ref,
      location: patch.location,
    });
  }

  await mkdir(srcDir, { recursive: true });
  for (const [i, source] of node.sources.entries()) {
    const blob = blobs[i];
    await at(source, async () => {
      if (blob === undefined) {
        if (source.kind === 'path') await copyStripped(source.path, srcDir, source.strip);
        return;
      }
      const file = store.blobFile(blob);
      const label = source.kind === 'url' ? redactUrl(source.url) : source.path;
      if (await detectArchive(file)) await unpackArchive(file, srcDir, source.strip, label);
      else await placeFile(file, srcDir, distfileName(source));
    });
  }
  await applyPatches(srcDir, patches);
  return { pinned };
}

/** Runs fn; a BuilditError that names no place gets the one where the source or patch is written. */
async function at<T>(from: ResolvedSource | ResolvedPatch, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (!(error instanceof BuilditError) || error.location) throw error;
    throw new BuilditError(error.code, error.message, {
      location: from.location,
      exitCode: error.exitCode,
      ...(error.hint === undefined ? {} : { hint: error.hint }),
      ...(error.cause === undefined ? {} : { cause: error.cause }),
    });
  }
}

/** A local file into the store, verified against the sha256 its identity used; a blob already there is used as is. */
async function snapshot(
  store: LocalStore,
  file: string,
  sha256: string,
  from: ResolvedSource | ResolvedPatch,
): Promise<string> {
  if (await store.hasBlob(sha256)) return sha256;
  try {
    return (
      await store.putBlob(createReadStream(file), {
        hex: sha256,
        what: `${file} (changed since it was hashed)`,
      })
    ).hex;
  } catch (error) {
    if (!isNotFound(error)) throw error;
    const patch = 'ref' in from;
    throw new BuilditError(
      patch ? 'BUILDIT_PATCH_MISSING' : 'BUILDIT_SOURCE_MISSING',
      `${patch ? 'patch' : 'source'} ${file} is gone`,
      { exitCode: 2, location: from.location },
    );
  }
}

/** A folder source with `strip`: like tar's, the first components of each path are dropped (shallower files are skipped). */
async function copyStripped(dir: string, dest: string, strip: number): Promise<void> {
  if (strip <= 0) return copyTree(dir, dest);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) await copyStripped(path.join(dir, entry.name), dest, strip - 1);
  }
}

/** A distfile that is not an archive (a single source file, a font…) is placed as it is. */
async function placeFile(blob: string, srcDir: string, name: string): Promise<void> {
  const target = path.join(srcDir, name);
  // Whatever an earlier source left there (a symlink above all) is replaced, never written through.
  await rm(target, { recursive: true, force: true });
  await copyFile(blob, target, constants.COPYFILE_EXCL);
  await chmod(target, 0o644);
}

function distfileName(source: ResolvedSource): string {
  let name: string;
  if (source.kind === 'path') name = path.basename(source.path);
  else if (source.filename !== undefined) name = source.filename;
  else {
    const last = new URL(source.url).pathname.split('/').pop() ?? '';
    try {
      name = decodeURIComponent(last);
    } catch {
      name = last;
    }
  }
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    const shown = source.kind === 'url' ? redactUrl(source.url) : source.path;
    throw new BuilditError(
      'BUILDIT_SOURCE_FILENAME',
      `source ${shown}: ${JSON.stringify(name)} cannot name a file in the source folder`,
      {
        exitCode: 2,
        location: source.location,
        hint: 'set filename: to a plain file name (no "/")',
      },
    );
  }
  return name;
}
