/**
 * `buildit <dir>`: resolve, pin remote inputs, take every package from the
 * store or build it, then assemble each image step's images. Reports
 * progress as events; the CLI decides how they look.
 */
import { createReadStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { BuilditError, BuilditErrors } from '../errors.ts';
import {
  resolveContainer,
  type Layer,
  type ResolvedContainer,
  type ResolvedImage,
} from '../container/resolve.ts';
import { writeLock } from '../container/lock.ts';
import { writeAci } from '../image/aci.ts';
import { packLayer, type LayerBlob } from '../image/layer.ts';
import { writeOciLayout } from '../image/oci.ts';
import { syncEntries } from '../image/sync-layer.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode, Target } from '../recipe/types.ts';
import type { PackageRecord } from '../store/record.ts';
import { renderTemplate } from '../template/render.ts';
import type { Workspace } from '../workspace.ts';
import { storedRecord } from './builder.ts';
import { distfilesOf, obtainPackage, type PackageSource } from './obtain.ts';
import { runGraph, type GraphOutcome } from './scheduler.ts';
import { mergeConfig } from '../image/base-config.ts';
import { pullBase, pushImage, reference, Registries, type RegistryOptions } from './registry-steps.ts';
import type { ImageReference } from '../registry/reference.ts';
import { BinhostLookup } from '../binhost/lookup.ts';
import { publishContainer } from '../binhost/publish.ts';
import type { Binhosts } from '../binhost/setup.ts';
import { prepareGraph, type PreparedGraph } from './prepare.ts';
import { beginUse } from '../store/roots.ts';
import { resolveSandbox, type Sandbox, type SandboxMode } from './sandbox.ts';

export type BuildEvent =
  | { type: 'start'; title: string }
  | { type: 'package'; node: PackageNode; label: string; id: string; phase: 'lookup' | 'build' }
  | {
      type: 'package';
      node: PackageNode;
      label: string;
      id: string;
      phase: 'download' | 'upload';
      binhost: string;
    }
  | {
      type: 'package';
      node: PackageNode;
      label: string;
      id: string;
      phase: 'done';
      source: PackageSource;
      binhost?: string;
      record: PackageRecord;
    }
  | { type: 'package'; node: PackageNode; label: string; id: string; phase: 'failed'; error: unknown }
  | { type: 'package'; node: PackageNode; label: string; id: string; phase: 'skipped'; cause: PackageNode }
  | { type: 'publish'; binhost: string; phase: 'start' | 'done' }
  | { type: 'push'; ref: string; digest: string }
  | { type: 'image'; format: 'oci' | 'aci'; phase: 'start'; name: string }
  | { type: 'image'; format: 'oci' | 'aci'; phase: 'done'; name: string; path: string; digest: string }
  | { type: 'warning'; message: string };

export interface BuildContainerOptions {
  dir: string;
  overrides: Record<string, string>;
  host: Target;
  output: string;
  sandbox: SandboxMode;
  jobs: number;
  frozen: boolean;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  /** Binhosts to look packages up on and to publish to (none: the store only). */
  binhosts?: Binhosts;
  /** How to reach registries (base images, push:). */
  registry?: RegistryOptions;
  /** References to push the container's OCI image to (`buildit push`). */
  push?: readonly string[];
}

export interface ContainerBuildResult {
  container: ResolvedContainer;
  packages: { node: PackageNode; id: string; source: PackageSource; binhost?: string }[];
  images: { format: 'oci' | 'aci'; path: string; digest: string }[];
}

/** The default name of an image step's output. */
const DEFAULT_IMAGE_NAME = '{{ name }}-{{ version }}';

export async function buildContainer(
  workspace: Workspace,
  options: BuildContainerOptions,
  on: (event: BuildEvent) => void,
): Promise<ContainerBuildResult> {
  const { store } = workspace;
  const container = await resolveContainer({ ...options, repositories: workspace.repositories });
  // References are input: check them before anything is built.
  for (const image of container.images) {
    if (image.step.base) reference(image.step.base, image.step.locate(['base']));
    image.step.push.forEach((text, i) => reference(text, image.step.locate(['push', i])));
  }
  const extraPush = (options.push ?? []).map((text) => reference(text, { file: '(command line)' }));
  if (extraPush.length > 0 && container.images.filter((i) => i.step.type === 'oci').length !== 1) {
    throw new BuilditError(
      'BUILDIT_PUSH_WHICH_IMAGE',
      'buildit push needs exactly one OCI image step in container.yaml',
      {
        location: { file: container.spec.file },
        hint: "with several OCI image steps, list each one's references under its push:",
      },
    );
  }
  on({ type: 'start', title: container.title });
  const sandbox = await resolveSandbox(options.sandbox);
  await store.init();
  const run = { container, sandbox, extraPush };

  const graph = await prepareGraph(workspace, container, options);
  const use = await beginUse(store, {
    container: container.dir,
    name: container.vars['name'] ?? path.basename(container.dir),
    version: container.vars['version'] ?? 'latest',
    packages: graph.unique.map((node) => ({ target: node.target, id: graph.idOf.get(node)! })),
    distfiles: [...new Set([...graph.unique.flatMap(distfilesOf), ...Object.values(graph.lock.distfiles)])],
  });
  let ok = false;
  try {
    const result = await buildGraph(workspace, run, graph, options, on);
    ok = true;
    return result;
  } finally {
    await use.finish(ok);
  }
}

/** Every package from the store, a binhost or a build; then the images, the lock, and publishing. */
async function buildGraph(
  workspace: Workspace,
  run: { container: ResolvedContainer; sandbox: Sandbox; extraPush: readonly ImageReference[] },
  graph: PreparedGraph,
  options: BuildContainerOptions,
  on: (event: BuildEvent) => void,
): Promise<ContainerBuildResult> {
  const { store } = workspace;
  const { container, sandbox, extraPush } = run;
  const { order, idOf, labels, lock } = graph;

  const warn = (message: string) => on({ type: 'warning', message });
  const binhosts = options.binhosts ?? { lookup: [], close: async () => {} };
  const lookup = new BinhostLookup(binhosts.lookup, { warn });
  // Ask every binhost about everything the store lacks at once; the loop below then finds answers waiting.
  if (binhosts.lookup.length > 0) {
    await Promise.all(
      order.map(async (node) => {
        const id = idOf.get(node)!;
        if (!(await storedRecord(store, node, id))) await lookup.find(node.target, id);
      }),
    );
  }

  const recordsById = new Map<string, PackageRecord>();
  const packages: ContainerBuildResult['packages'] = [];

  const outcome = await runGraph(
    graph.unique,
    (node) => [...node.deps.build, ...node.deps.run].map(graph.canonical),
    options.jobs,
    async (node) => {
      const identity = graph.identities.get(node)!;
      const { id } = identity;
      const label = labels.get(node) ?? `dependency ${formatAtom(node.atom)}`;
      on({ type: 'package', node, label, id, phase: 'lookup' });
      try {
        const obtained = await obtainPackage(node, identity, {
          store,
          lookup,
          build: {
            sandbox,
            jobs: options.jobs,
            buildDeps: installedForBuild(node, idOf, recordsById),
            ...(options.fetch ? { fetch: options.fetch } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
          },
          ...(binhosts.upload ? { upload: binhosts.upload } : {}),
          progress: (step) =>
            on(
              step.kind === 'build'
                ? { type: 'package', node, label, id, phase: 'build' }
                : { type: 'package', node, label, id, phase: step.kind, binhost: step.binhost },
            ),
          warn,
        });
        recordsById.set(id, obtained.record);
        packages.push({
          node,
          id,
          source: obtained.source,
          ...(obtained.binhost ? { binhost: obtained.binhost } : {}),
        });
        on({
          type: 'package',
          node,
          label,
          id,
          phase: 'done',
          source: obtained.source,
          ...(obtained.binhost ? { binhost: obtained.binhost } : {}),
          record: obtained.record,
        });
      } catch (error) {
        on({ type: 'package', node, label, id, phase: 'failed', error });
        throw error;
      }
    },
  );
  if (outcome.failed.size > 0) {
    for (const [node, cause] of outcome.skipped) {
      on({
        type: 'package',
        node,
        label: labels.get(node) ?? 'dependency',
        id: idOf.get(node)!,
        phase: 'skipped',
        cause,
      });
    }
    throw failureReport(outcome);
  }
  const records = new Map(order.map((node) => [node, recordsById.get(idOf.get(node)!)!]));

  const images: ContainerBuildResult['images'] = [];
  const output = path.resolve(options.output);
  await mkdir(output, { recursive: true });
  const registries = new Registries(
    options.registry ?? { insecure: [], env: process.env, home: process.env['HOME'] ?? '/' },
  );
  const ociSteps = container.images.filter((i) => i.step.type === 'oci');
  for (const image of container.images) {
    // `buildit push <dir> <ref>…` pushes the container's OCI image (checked below to be one).
    const extra = image === ociSteps[0] ? extraPush : [];
    images.push(await assembleImage(workspace, image, records, output, on, registries, extra));
  }
  await writeLock(container.lock, lock);
  if (binhosts.upload) {
    on({ type: 'publish', binhost: binhosts.upload.name, phase: 'start' });
    await publishContainer(
      binhosts.upload,
      container.vars['name'] ?? path.basename(container.dir),
      container.vars['version'] ?? 'latest',
      {
        lock: container.lock.file,
        images: images.map((i) => i.path),
      },
    );
    on({ type: 'publish', binhost: binhosts.upload.name, phase: 'done' });
  }
  return { container, packages, images };
}

/** A build dependency's artifact and, transitively, its run dependencies' (each once). */
function installedForBuild(
  node: PackageNode,
  idOf: ReadonlyMap<PackageNode, string>,
  records: ReadonlyMap<string, PackageRecord>,
): { atom: string; hex: string }[] {
  const out = new Map<string, { atom: string; hex: string }>();
  const add = (dep: PackageNode) => {
    const id = idOf.get(dep)!;
    if (out.has(id)) return;
    out.set(id, {
      atom: formatAtom(dep.atom),
      hex: records.get(id)!.artifact.digest.replace(/^sha256:/, ''),
    });
    for (const run of dep.deps.run) add(run);
  };
  for (const dep of node.deps.build) add(dep);
  return [...out.values()];
}

/** Every failure together, and which packages were not attempted because of them (exit 1 unless input was at fault). */
function failureReport(outcome: GraphOutcome<PackageNode>): Error {
  const errors: BuilditError[] = [];
  for (const [node, error] of outcome.failed) {
    if (error instanceof BuilditErrors) errors.push(...error.errors);
    else if (error instanceof BuilditError) errors.push(error);
    else return error instanceof Error ? error : new Error(`${formatAtom(node.atom)}: ${String(error)}`);
  }
  if (outcome.skipped.size > 0) {
    const lines = [...outcome.skipped].map(
      ([node, cause]) => `${formatAtom(node.atom)} (needs ${formatAtom(cause.atom)})`,
    );
    errors.push(
      new BuilditError(
        'BUILDIT_BUILD_SKIPPED',
        `not built because a dependency failed: ${lines.join(', ')}`,
        {
          exitCode: 1,
          hint: 'fix the failures above and run again: finished packages are kept in the store',
        },
      ),
    );
  }
  return errors.length === 1 ? errors[0]! : new BuilditErrors(errors);
}

async function assembleImage(
  workspace: Workspace,
  image: ResolvedImage,
  records: ReadonlyMap<PackageNode, PackageRecord>,
  output: string,
  on: (event: BuildEvent) => void,
  registries: Registries,
  extraPush: readonly ImageReference[],
): Promise<{ format: 'oci' | 'aci'; path: string; digest: string }> {
  const { store } = workspace;
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
  on({ type: 'image', format: step.type, phase: 'start', name });
  const work = await store.tempDir('image');
  try {
    const epoch = imageEpoch();
    const layers = await imageLayers(workspace, image.layers, records, work, epoch);
    if (step.type === 'oci') {
      const target = path.join(output, `${name}.oci`);
      const tag = step.tag ?? image.vars['version'] ?? 'latest';
      const base = step.base
        ? await pullBase(reference(step.base, step.locate(['base'])), image.target, store, registries)
        : undefined;
      const result = await writeOciLayout(target, {
        layers: [...(base?.layers ?? []), ...layers],
        config: mergeConfig(base?.config, image.content as Record<string, unknown>),
        os: image.target.os,
        arch: image.target.arch,
        created: epoch,
        tag,
        ...(image.vars['author'] ? { author: image.vars['author'] } : {}),
      });
      on({ type: 'image', format: 'oci', phase: 'done', name, path: target, digest: result.manifestDigest });
      const refs = [...step.push.map((text, i) => reference(text, step.locate(['push', i]))), ...extraPush];
      for (const pushed of await pushImage(target, tag, refs, registries, base?.ref)) {
        on({ type: 'push', ref: pushed.ref, digest: pushed.digest });
      }
      return { format: 'oci', path: target, digest: result.manifestDigest };
    }
    const target = path.join(output, `${name}-${image.target.os}-${image.target.arch}.aci`);
    const result = await writeAci(target, {
      layers,
      manifest: image.content as Record<string, unknown>,
      os: image.target.os,
      arch: image.target.arch,
      mtime: epoch,
    });
    on({ type: 'image', format: 'aci', phase: 'done', name, path: target, digest: result.imageId });
    return { format: 'aci', path: target, digest: result.imageId };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Images are dated SOURCE_DATE_EPOCH when the caller sets it, else the epoch itself. */
function imageEpoch(): number {
  const value = Number(process.env['SOURCE_DATE_EPOCH'] ?? 0);
  return Number.isInteger(value) && value >= 0 ? value : 0;
}

/**
 * One layer per package (its artifact, unchanged), its run dependencies
 * (transitively, each once per image) before it; one layer per sync step.
 */
async function imageLayers(
  workspace: Workspace,
  layers: readonly Layer[],
  records: ReadonlyMap<PackageNode, PackageRecord>,
  work: string,
  epoch: number,
): Promise<LayerBlob[]> {
  const out: LayerBlob[] = [];
  const { store } = workspace;
  const included = new Set<string>();
  const addPackage = (node: PackageNode) => {
    for (const dep of node.deps.run) addPackage(dep);
    const record = records.get(node)!;
    if (included.has(record.id)) return;
    included.add(record.id);
    const hex = record.artifact.digest.replace(/^sha256:/, '');
    out.push({
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
    const packed = await packLayer(
      await syncEntries([
        {
          src: sync.src,
          isDir: sync.isDir,
          dest: sync.step.dest,
          ...(sync.step.mode === undefined ? {} : { mode: sync.step.mode }),
          owner: sync.step.owner,
        },
      ]),
      { mtime: epoch, file },
    );
    out.push({
      ...packed,
      open: () => createReadStream(file),
      createdBy: `buildit sync ${sync.step.src} ${sync.step.dest}`,
    });
  }
  return out;
}
