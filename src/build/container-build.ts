/**
 * `buildit <dir>`: resolve, pin remote inputs, take every package from the
 * store or build it, then assemble each image step's images. Reports
 * progress as events; the CLI decides how they look.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { BuilditError } from '../errors.ts';
import { resolveContainer, type ResolvedContainer } from '../container/resolve.ts';
import { writeLock } from '../container/lock.ts';
import { formatAtom } from '../recipe/atom.ts';
import type { PackageNode, Target } from '../recipe/types.ts';
import type { PackageRecord } from '../store/record.ts';
import type { Workspace } from '../workspace.ts';
import { storedRecord } from './builder.ts';
import { obtainPackage, type PackageSource } from './obtain.ts';
import { runGraph } from './scheduler.ts';
import { failureReport, holdStore, installedForBuild, type StoreHold } from './graph-build.ts';
import { reference, Registries, type RegistryOptions } from './registry-steps.ts';
import { assembleImage, type AssembledImage, type ImageEvent } from './assemble.ts';
import type { ImageReference } from '../registry/reference.ts';
import { BinhostLookup } from '../binhost/lookup.ts';
import { publishContainer } from '../binhost/publish.ts';
import type { Binhosts } from '../binhost/setup.ts';
import { prepareGraph, type PreparedGraph } from './prepare.ts';
import { lazySandbox, type Sandbox, type SandboxMode } from './sandbox.ts';

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
  | ImageEvent;

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
  /** A needed shared library that nothing in the image provides fails the build (else a warning). */
  strictLibs?: boolean;
}

export interface ContainerBuildResult {
  container: ResolvedContainer;
  packages: { node: PackageNode; id: string; source: PackageSource; binhost?: string }[];
  images: AssembledImage[];
}

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
  const sandbox = lazySandbox(options.sandbox);
  // Asked for by name, a sandbox that cannot work is an error before anything starts.
  if (options.sandbox === 'on') await sandbox();
  await store.init();
  const run = { container, sandbox, extraPush };

  const hold = await holdStore(store, container, {
    ...(options.signal ? { signal: options.signal } : {}),
    warn: (message) => on({ type: 'warning', message }),
  });
  let ok = false;
  try {
    const graph = await prepareGraph(workspace, container, options);
    await hold.resolved(graph);
    const result = await buildGraph(workspace, { ...run, hold }, graph, options, on);
    ok = true;
    return result;
  } finally {
    await hold.finish(ok);
  }
}

/** Every package from the store, a binhost or a build; then the images, the lock, and publishing. */
async function buildGraph(
  workspace: Workspace,
  run: {
    container: ResolvedContainer;
    sandbox: () => Promise<Sandbox>;
    extraPush: readonly ImageReference[];
    hold: StoreHold;
  },
  graph: PreparedGraph,
  options: BuildContainerOptions,
  on: (event: BuildEvent) => void,
): Promise<ContainerBuildResult> {
  const { store } = workspace;
  const { container, sandbox, extraPush, hold } = run;
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
    throw failureReport(outcome, {
      verb: 'built',
      hint: 'fix the failures above and run again: finished packages are kept in the store',
    });
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
    images.push(
      await assembleImage(image, {
        workspace,
        records,
        output,
        registries,
        extraPush: extra,
        strictLibs: options.strictLibs ?? false,
        keepBlobs: (hexes) => hold.keepBlobs(hexes),
        on,
      }),
    );
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
