/**
 * Build one package from source into the store: lock its identity, prepare
 * the patched sources, run the recipe in the sandbox, pack DESTDIR into a
 * deterministic artifact, write the blob, then the record (last).
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import type { Preimage } from '../identity/preimage.ts';
import { packLayer } from '../image/layer.ts';
import { scanTree } from '../image/tree.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode } from '../recipe/types.ts';
import { artifactHex, LAYER_MEDIA_TYPE, RECORD_SCHEMA, type PackageRecord } from '../store/record.ts';
import type { LocalStore } from '../store/store.ts';
import { buildEnv } from './env.ts';
import { runBuildLines } from './runner.ts';
import type { Sandbox } from './sandbox.ts';
import { prepareSources } from './sources.ts';
import { patchAuthor } from './patch.ts';
import { inventoryTree, type LibraryInventory } from '../image/libraries.ts';
import { unpackArchive } from './unpack.ts';

export interface BuildOptions {
  store: LocalStore;
  /** Resolved only when a package is really built (see lazySandbox). */
  sandbox: () => Promise<Sandbox>;
  jobs: number;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /**
   * Artifacts the build needs installed: its build dependencies and their run
   * dependencies (already in the store), each unpacked into its own tree.
   */
  buildDeps?: readonly { atom: string; hex: string }[];
}

export type BuildOutcome = { record: PackageRecord; built: boolean };

/**
 * Build `node` unless the store already has it. Two processes asking for one
 * identity build it once: the second waits on the lock, then finds the record.
 */
export async function buildPackage(
  node: PackageNode,
  identity: { id: string; preimage: Preimage },
  options: BuildOptions,
): Promise<BuildOutcome> {
  const { store } = options;
  const { id } = identity;
  await store.init();
  const lock = await store.lock(id);
  try {
    const existing = await storedRecord(store, node, id);
    if (existing) return { record: existing, built: false };

    const work = await store.tempDir(`build-${id.slice(0, 12)}`);
    try {
      const srcDir = path.join(work, 'src');
      const destDir = path.join(work, 'dest');
      const homeDir = path.join(work, 'home');
      await Promise.all([srcDir, destDir, homeDir].map((d) => mkdir(d, { recursive: true })));
      await prepareSources(store, node, srcDir, options.fetch ? { fetch: options.fetch } : {});
      const buildDeps = [];
      for (const [i, dep] of (options.buildDeps ?? []).entries()) {
        const root = path.join(work, 'deps', `${i}-${dep.atom.replace(/[^A-Za-z0-9._+-]/g, '_')}`);
        await mkdir(root, { recursive: true });
        await unpackArchive(store.blobFile(dep.hex), root, 0, dep.atom);
        buildDeps.push({ atom: dep.atom, root });
      }
      const env = buildEnv({ node, srcDir, destDir, homeDir, jobs: options.jobs, buildDeps });
      // The log holds this attempt only (a failed earlier attempt's lines would mislead).
      await rm(store.logFile(id), { force: true });
      await runBuildLines({
        lines: node.recipe.build,
        cwd: srcDir,
        env,
        sandbox: await options.sandbox(),
        writable: [work],
        logFile: store.logFile(id),
        ...(options.signal ? { signal: options.signal } : {}),
      });
      const packed = path.join(work, 'artifact.tar.gz');
      const layer = await packLayer(await scanTree(destDir, { normalizeModes: false }), {
        mtime: node.recipe.epoch,
        file: packed,
      });
      const libraries = await inventoryTree(destDir);
      await store.adoptBlob(packed, layer.digest.replace(/^sha256:/, ''));
      const record = await makeRecord(store, node, identity, libraries, {
        digest: layer.digest,
        size: layer.size,
        diffId: layer.diffId,
        mediaType: LAYER_MEDIA_TYPE,
      });
      await store.writeRecord(record);
      return { record, built: true };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  } finally {
    await lock.release();
  }
}

/** A stored record is used only when its artifact is there and intact. */
export async function storedRecord(
  store: LocalStore,
  node: PackageNode,
  id: string,
): Promise<PackageRecord | undefined> {
  const record = await store.readRecord(node.target, id);
  if (!record) return undefined;
  const hex = artifactHex(record);
  return (await store.hasBlob(hex)) ? record : undefined;
}

/** Identity, artifact, and what describes the package (SPEC §4: not identity, but in the record and SBOM). */
async function makeRecord(
  store: LocalStore,
  node: PackageNode,
  identity: { id: string; preimage: Preimage },
  libraries: LibraryInventory,
  artifact: PackageRecord['artifact'],
): Promise<PackageRecord> {
  const { metadata } = node;
  const patches = [];
  for (const p of node.patches) {
    const author = (await patchAuthor(p.kind === 'url' ? store.blobFile(p.sha256!) : p.ref)) ?? p.author;
    patches.push({
      sha256: p.sha256,
      ...(p.description === undefined ? {} : { description: p.description }),
      ...(author === undefined ? {} : { author }),
      ...(p.kind === 'url' ? { url: p.ref } : { file: path.basename(p.ref) }),
    });
  }
  return {
    schema: RECORD_SCHEMA,
    id: identity.id,
    name: node.atom.name,
    version: node.atom.version,
    target: { ...node.target },
    preimage: identity.preimage,
    artifact,
    metadata: {
      atom: formatAtom(node.atom),
      ...metadata,
      sources: node.sources.map((s) =>
        s.kind === 'url'
          ? { url: s.url, sha256: s.sha256 }
          : { path: path.basename(s.path), sha256: s.sha256 },
      ),
      patches,
      use: { ...node.use },
      libraries,
    },
    signatures: [],
  };
}
