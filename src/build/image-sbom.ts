/**
 * What is inside an image: its packages (and what built them), their shared
 * libraries, and the libraries it needs that nothing in it provides. Gives
 * the image's SBOM document and its bytes.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { BuilditError } from '../errors.ts';
import type { LayerBlob } from '../image/layer.ts';
import { inventoryArtifact, missingLibraries, type LibraryInventory } from '../image/libraries.ts';
import { buildSbom, type SbomPackage } from '../image/sbom.ts';
import { readTarGz } from '../image/tar-read.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode } from '../recipe/types.ts';
import { artifactHex, type PackageRecord } from '../store/record.ts';
import type { LocalStore } from '../store/store.ts';
import { BUILDIT_VERSION } from '../version.ts';

export interface DescribeInput {
  name: string;
  version: string;
  epoch: number;
  /** Every package of the container's graph with its record. */
  records: ReadonlyMap<PackageNode, PackageRecord>;
  /** The packages installed in the image, in layer order. */
  inImage: readonly PackageNode[];
  /** Files the image's sync layers hold. */
  syncPaths: readonly string[];
  /** A base image's layers (OCI), under ours. */
  baseLayers: readonly LayerBlob[];
  store: LocalStore;
  /** Scratch space for inventories of artifacts whose records lack one. */
  work: string;
  strictLibs: boolean;
  warn(message: string): void;
}

export interface ImageInventory {
  document: Record<string, unknown>;
  /** The SBOM's bytes, as written inside the image and beside it. */
  text: string;
  missing: { path: string; library: string; id: string }[];
}

const inventorySchema = z.object({
  provides: z.array(z.object({ soname: z.string(), path: z.string() })),
  needs: z.array(z.object({ path: z.string(), library: z.string() })),
});

export async function describeImage(input: DescribeInput): Promise<ImageInventory> {
  const inImage = new Set(input.inImage.map((node) => input.records.get(node)!.id));
  const packages = new Map<string, SbomPackage & { node: PackageNode }>();
  const add = async (node: PackageNode): Promise<void> => {
    const record = input.records.get(node)!;
    if (packages.has(record.id)) return;
    const entry = {
      node,
      record,
      inImage: inImage.has(record.id),
      deps: {
        build: node.deps.build.map((d) => input.records.get(d)!.id),
        run: node.deps.run.map((d) => input.records.get(d)!.id),
      },
    };
    packages.set(record.id, entry);
    const libraries = await librariesOf(record, entry.inImage, input);
    if (libraries) Object.assign(entry, { libraries });
    // What built the image's packages is part of what is inside: their build dependencies, transitively.
    for (const dep of [...node.deps.build, ...node.deps.run]) await add(dep);
  };
  for (const node of input.inImage) await add(node);

  const provided = new Set<string>();
  for (const pkg of packages.values())
    if (pkg.inImage) for (const p of pkg.libraries?.provides ?? []) provided.add(p.soname);
  for (const file of input.syncPaths) provided.add(path.posix.basename(file));
  for (const name of await baseFileNames(input.baseLayers)) provided.add(name);

  const missing: ImageInventory['missing'] = [];
  for (const pkg of packages.values()) {
    if (!pkg.inImage) continue;
    for (const m of missingLibraries(pkg.libraries?.needs ?? [], provided)) {
      missing.push({ ...m, id: pkg.record.id });
      input.warn(
        `image ${input.name}: ${m.path} (${formatAtom(pkg.node.atom)}) needs ${m.library}, which no package in the image provides`,
      );
    }
  }
  if (missing.length > 0 && input.strictLibs) {
    throw new BuilditError(
      'BUILDIT_IMAGE_LIBRARY_MISSING',
      `image ${input.name} needs shared libraries nothing in it provides: ${missing
        .map((m) => `${m.path} needs ${m.library}`)
        .join(', ')}`,
      {
        exitCode: 1,
        hint: 'add the package that provides each library (a run dependency, or a package step), or build on a base image that has it; without --strict-libs this is a warning',
      },
    );
  }
  const document = buildSbom({
    imageName: input.name,
    version: input.version,
    created: input.epoch,
    tool: `buildit-${BUILDIT_VERSION}`,
    packages: [...packages.values()],
    missing,
  });
  return { document, text: `${JSON.stringify(document, null, 2)}\n`, missing };
}

/**
 * A record's inventory (written when the package was built); for a record
 * that has none (built by an older buildit), read from the artifact itself.
 */
async function librariesOf(
  record: PackageRecord,
  inImage: boolean,
  input: DescribeInput,
): Promise<LibraryInventory | undefined> {
  const stored = inventorySchema.safeParse(record.metadata['libraries']);
  if (stored.success) return stored.data;
  if (!inImage) return undefined;
  const scratch = path.join(input.work, `inventory-${record.id.slice(0, 12)}`);
  await mkdir(scratch, { recursive: true });
  const hex = artifactHex(record);
  return inventoryArtifact(() => input.store.openBlob(hex), scratch);
}

/** Names of the files in a base image: a library there satisfies a need by its file name. */
async function baseFileNames(layers: readonly LayerBlob[]): Promise<Set<string>> {
  const names = new Set<string>();
  for (const layer of layers) {
    await readTarGz(layer.open(), `base layer ${layer.digest}`, async (entry) => {
      if (entry.type !== 'Directory') names.add(path.posix.basename(entry.path.replace(/\/+$/, '')));
      entry.resume();
    });
  }
  return names;
}
