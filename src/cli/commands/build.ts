/** `buildit [build] <dir>`: build what the store lacks, then write the images. */
import os from 'node:os';
import path from 'node:path';
import { openBinhosts } from '../../binhost/setup.ts';
import { buildContainer, type BuildEvent } from '../../build/container-build.ts';
import { hostTarget } from '../../build/toolchain.ts';
import { formatAtom } from '../../recipe/atom.ts';
import { workspaceFor } from '../workspace.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import { Narrative } from '../narrative.ts';
import type { Reporter } from '../report.ts';
import { parseJobs, parseSandbox } from '../options.ts';
import { parseVars } from '../vars.ts';

export interface BuildCommandOptions extends CommonOptions {
  output?: string;
  var?: string[];
  jobs?: string;
  sandbox?: string;
  frozen?: boolean;
  offline?: boolean;
  discover?: string[];
  push?: boolean;
  insecureRegistry?: string[];
  registryCa?: string;
  strictLibs?: boolean;
}

export function buildCommand(
  dir: string,
  options: BuildCommandOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  return build(dir, [], options, io, report);
}

async function build(
  dir: string,
  pushTo: readonly string[],
  options: BuildCommandOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  const containerDir = path.resolve(io.cwd, dir);
  const workspace = await workspaceFor(containerDir, options, io);
  const configDir = workspace.config.file ? path.dirname(workspace.config.file) : io.cwd;
  const output = options.output
    ? path.resolve(io.cwd, options.output)
    : workspace.config.output
      ? path.resolve(configDir, workspace.config.output)
      : path.resolve(io.cwd, 'out');
  const story = await Narrative.create(io, {
    enabled: !report.json && !report.quiet,
    color: options.color !== false,
  });
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const binhosts = await openBinhosts(workspace.config, {
    discover: options.discover ?? [],
    push: options.push ?? false,
    offline: options.offline ?? false,
    cwd: io.cwd,
    env: io.env,
  });
  try {
    const result = await buildContainer(
      workspace,
      {
        dir: containerDir,
        overrides: parseVars(options.var ?? []),
        host: hostTarget(),
        output,
        sandbox: parseSandbox(options.sandbox),
        jobs: parseJobs(options.jobs),
        frozen: options.frozen ?? false,
        signal: abort.signal,
        binhosts,
        registry: {
          insecure: options.insecureRegistry ?? [],
          ...(options.registryCa ? { caFile: path.resolve(io.cwd, options.registryCa) } : {}),
          env: io.env,
          home: io.env['HOME'] ?? os.homedir(),
        },
        push: pushTo,
        strictLibs: options.strictLibs ?? false,
      },
      narrator(story, report),
    );
    const built = result.packages.filter((p) => p.source === 'build').length;
    const fromBinhosts = result.packages.filter((p) => p.source === 'binhost').length;
    report.event({
      type: 'result',
      ok: true,
      packages: result.packages.length,
      built,
      fromBinhosts,
      images: result.images.map((i) => ({ format: i.format, path: i.path, digest: i.digest, sbom: i.sbom })),
    });
    for (const image of result.images) report.answerQuiet(`${image.digest} ${image.path}`);
    return 0;
  } catch (error) {
    story.live(undefined);
    story.end(false);
    throw error;
  } finally {
    await binhosts.close();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

/**
 * Turns build events into the narrative and --json lines. A package's lines
 * are kept until it is done and printed together, so parallel builds do not
 * interleave; the step in progress ends with [OK] or [FAILED].
 */
function narrator(story: Narrative, report: Reporter): (event: BuildEvent) => void {
  let title = '';
  const blocks = new Map<string, { lines: string[]; pending?: string; atom: string }>();
  const inFlight = () => {
    const building = [...blocks.values()].filter((b) => b.pending).map((b) => b.atom);
    story.live(building.length ? `${building.length} in progress: ${building.join(', ')}` : undefined);
  };
  const close = (block: { lines: string[]; pending?: string }, ok: boolean) => {
    if (block.pending) block.lines.push(story.step(block.pending, ok));
    delete block.pending;
  };
  return (event) => {
    switch (event.type) {
      case 'start':
        title = event.title;
        story.line(`Building ${event.title}`);
        report.event({ type: 'phase', phase: 'resolve', status: 'ok', title: event.title });
        return;
      case 'package': {
        const { node, id } = event;
        const atom = formatAtom(node.atom);
        const target = `${node.target.os}/${node.target.arch}`;
        const phase = (name: string, extra: Record<string, unknown> = {}) =>
          report.event({
            type: 'phase',
            phase: name,
            package: atom,
            id,
            status: 'start',
            ...extra,
            time: Date.now(),
          });
        if (event.phase === 'skipped') {
          story.line(`Skipping ${atom}: its dependency ${formatAtom(event.cause.atom)} failed.`);
          report.packageEvent(node, id, 'skipped');
          return;
        }
        if (event.phase === 'lookup') {
          blocks.set(id, {
            atom,
            lines: [
              event.label.startsWith('dependency')
                ? `Processing ${event.label} for ${target}.`
                : `Processing package from '${event.label}' for ${target}.`,
              `    HASH: ${id}`,
            ],
          });
          phase('lookup');
          return;
        }
        const block = blocks.get(id)!;
        switch (event.phase) {
          case 'download':
            block.pending = `    Downloading from '${event.binhost}'...`;
            phase('download', { binhost: event.binhost });
            break;
          case 'build':
            block.lines.push(`    Can't find HASH in any known location...`);
            block.pending = '    Defaulting to local build...';
            phase('build');
            break;
          case 'upload':
            if (block.pending) close(block, true);
            else block.lines.push('    Found HASH in the local store');
            block.pending = `    Uploading packages to '${event.binhost}'`;
            phase('upload', { binhost: event.binhost });
            break;
          case 'done':
            if (block.pending) close(block, true);
            else if (event.source === 'store') block.lines.push('    Found HASH in the local store');
            blocks.delete(id);
            story.print(block.lines);
            report.packageEvent(node, id, event.source, {
              ...(event.binhost ? { binhost: event.binhost } : {}),
              time: Date.now(),
            });
            break;
          case 'failed':
            close(block, false);
            blocks.delete(id);
            story.print(block.lines);
            report.event({ type: 'phase', phase: 'failed', package: atom, id, time: Date.now() });
            break;
        }
        inFlight();
        return;
      }
      case 'publish':
        if (event.phase === 'start')
          story.begin(`Uploading container spec and image(s) to '${event.binhost}'`);
        else {
          story.end(true);
          report.event({ type: 'push', binhost: event.binhost, what: 'container' });
        }
        return;
      case 'image':
        if (event.phase === 'start') story.begin(`Packaging ${title} as ${event.format.toUpperCase()}...`);
        else {
          story.end(true);
          report.event({
            type: 'image',
            format: event.format,
            path: event.path,
            digest: event.digest,
            sbom: event.sbom,
          });
        }
        return;
      case 'push':
        story.line(`Pushed ${event.ref} (${event.digest})`);
        report.event({ type: 'push', ref: event.ref, digest: event.digest });
        return;
      case 'warning':
        report.warn(event.message);
        return;
    }
  };
}

/** `buildit push <dir> <ref>… [build options]`: build if needed, then push the container's OCI image. */
export function pushCommand(
  dir: string,
  refs: string[],
  options: BuildCommandOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  return build(dir, refs, options, io, report);
}
