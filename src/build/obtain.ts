/**
 * Where one package comes from: the store, else the first binhost with a
 * verified record and artifact, else a build from source. With an upload
 * binhost, what it lacks is published right after.
 */
import { BuilditError } from '../errors.ts';
import type { BinhostLookup } from '../binhost/lookup.ts';
import { publishPackage, type Upload } from '../binhost/publish.ts';
import type { RemoteBinhost } from '../binhost/remote.ts';
import { BinhostError } from '../binhost/types.ts';
import type { Preimage } from '../identity/preimage.ts';
import type { PackageNode } from '../recipe/types.ts';
import { recordPath } from '../store/layout.ts';
import { artifactHex, type PackageRecord } from '../store/record.ts';
import type { LocalStore } from '../store/store.ts';
import { buildPackage, storedRecord, type BuildOptions } from './builder.ts';

export type PackageSource = 'store' | 'binhost' | 'build';

export interface ObtainContext {
  store: LocalStore;
  lookup: BinhostLookup;
  build: Omit<BuildOptions, 'store'>;
  upload?: Upload;
  /** Progress: 'download' before a binhost fetch, 'build' before a build, 'upload' before publishing. */
  progress(
    step: { kind: 'download'; binhost: string } | { kind: 'build' } | { kind: 'upload'; binhost: string },
  ): void;
  warn(message: string): void;
}

export interface Obtained {
  record: PackageRecord;
  source: PackageSource;
  binhost?: string;
}

export async function obtainPackage(
  node: PackageNode,
  identity: { id: string; preimage: Preimage },
  ctx: ObtainContext,
): Promise<Obtained> {
  const { store } = ctx;
  let obtained: Obtained | undefined;
  const stored = await storedRecord(store, node, identity.id);
  if (stored) obtained = { record: stored, source: 'store' };
  obtained ??= await fromBinhost(node, identity.id, ctx);
  if (!obtained) {
    ctx.progress({ kind: 'build' });
    await mirrorDistfiles(node, ctx);
    const outcome = await buildPackage(node, identity, { store, ...ctx.build });
    obtained = { record: outcome.record, source: outcome.built ? 'build' : 'store' };
  }
  if (ctx.upload && !(await ctx.upload.backend.has(recordPath(node.target, identity.id)))) {
    ctx.progress({ kind: 'upload', binhost: ctx.upload.name });
    await publishPackage(ctx.upload, store, obtained.record, distfilesOf(node));
  }
  return obtained;
}

/** A verified hit: its artifact is fetched into the store (checked against its digest), then its record. */
async function fromBinhost(node: PackageNode, id: string, ctx: ObtainContext): Promise<Obtained | undefined> {
  const found = await ctx.lookup.find(node.target, id);
  if (!found) return undefined;
  const { binhost, record } = found;
  ctx.progress({ kind: 'download', binhost: binhost.name });
  const hex = artifactHex(record);
  try {
    if (!(await binhost.fetchBlob(ctx.store, hex, `artifact of ${id}`))) {
      ctx.warn(`binhost '${binhost.name}': ${id} has a record but no artifact; building locally`);
      return undefined;
    }
  } catch (error) {
    if (error instanceof BinhostError) {
      ctx.lookup.markDown(binhost, error);
      return undefined;
    }
    if (error instanceof BuilditError && error.code === 'BUILDIT_FETCH_SHA256') {
      ctx.warn(
        `binhost '${binhost.name}': the artifact of ${id} does not match its record's digest: rejected, building locally`,
      );
      ctx.lookup.forget(node.target, id);
      return undefined;
    }
    throw error;
  }
  await ctx.store.writeRecord(record);
  return { record, source: 'binhost', binhost: binhost.name };
}

/** Remote sources and patches by sha256: a binhost doubles as a source mirror (how offline machines build). */
async function mirrorDistfiles(node: PackageNode, ctx: ObtainContext): Promise<void> {
  const binhosts: RemoteBinhost[] = ctx.lookup.binhostList;
  for (const hex of distfilesOf(node)) {
    if (await ctx.store.hasBlob(hex)) continue;
    for (const binhost of binhosts) {
      try {
        if (await binhost.fetchBlob(ctx.store, hex, `distfile ${hex}`)) break;
      } catch (error) {
        if (!(error instanceof BuilditError)) throw error;
        ctx.warn(`binhost '${binhost.name}': distfile ${hex}: ${error.message}`);
      }
    }
  }
}

/** sha256 of the package's url sources and remote patches. */
export function distfilesOf(node: PackageNode): string[] {
  return [
    ...node.sources.flatMap((s) => (s.kind === 'url' ? [s.sha256] : [])),
    ...node.patches.flatMap((p) => (p.kind === 'url' && p.sha256 ? [p.sha256] : [])),
  ];
}
