/** `buildit [build] <dir>`: build what the store lacks, then write the images. */
import os from 'node:os';
import path from 'node:path';
import { openBinhosts } from '../../binhost/setup.ts';
import { buildContainer, type BuildEvent } from '../../build/container-build.ts';
import type { SandboxMode } from '../../build/sandbox.ts';
import { hostTarget } from '../../build/toolchain.ts';
import { BuilditError } from '../../errors.ts';
import { formatAtom } from '../../recipe/atom.ts';
import { workspaceFor } from '../workspace.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import { Narrative } from '../narrative.ts';
import type { Reporter } from '../report.ts';
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
}

export async function buildCommand(
  dir: string,
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
  const story = new Narrative(io, { enabled: !report.json && !report.quiet, color: options.color !== false });
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let title = '';
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
      },
      (event) => {
        if (event.type === 'start') title = event.title;
        narrate(event, story, report, title);
      },
    );
    const built = result.packages.filter((p) => p.source === 'build').length;
    const fromBinhosts = result.packages.filter((p) => p.source === 'binhost').length;
    report.event({
      type: 'result',
      ok: true,
      packages: result.packages.length,
      built,
      fromBinhosts,
      images: result.images.map((i) => ({ format: i.format, path: i.path, digest: i.digest })),
    });
    for (const image of result.images) report.answerQuiet(`${image.digest} ${image.path}`);
    return 0;
  } catch (error) {
    story.end(false);
    throw error;
  } finally {
    await binhosts.close();
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}

function narrate(event: BuildEvent, story: Narrative, report: Reporter, title: string): void {
  switch (event.type) {
    case 'start':
      story.line(`Building ${event.title}`);
      report.event({ type: 'phase', phase: 'resolve', status: 'ok', title: event.title });
      return;
    case 'package': {
      const { node, id } = event;
      const target = `${node.target.os}/${node.target.arch}`;
      const phase = (name: string, extra: Record<string, unknown> = {}) =>
        report.event({
          type: 'phase',
          phase: name,
          package: formatAtom(node.atom),
          id,
          status: 'start',
          ...extra,
          time: Date.now(),
        });
      switch (event.phase) {
        case 'lookup':
          story.line(
            event.label.startsWith('dependency')
              ? `Processing ${event.label} for ${target}.`
              : `Processing package from '${event.label}' for ${target}.`,
          );
          story.line(`    HASH: ${id}`);
          phase('lookup');
          return;
        case 'download':
          story.begin(`    Downloading from '${event.binhost}'...`);
          phase('download', { binhost: event.binhost });
          return;
        case 'build':
          story.line(`    Can't find HASH in any known location...`);
          story.begin('    Defaulting to local build...');
          phase('build');
          return;
        case 'upload':
          if (story.isOpen) story.end(true);
          else story.line('    Found HASH in the local store');
          story.begin(`    Uploading packages to '${event.binhost}'`);
          phase('upload', { binhost: event.binhost });
          return;
        case 'done':
          if (story.isOpen) story.end(true);
          else if (event.source === 'store') story.line('    Found HASH in the local store');
          report.event({
            type: 'package',
            name: node.atom.name,
            version: node.atom.version,
            atom: formatAtom(node.atom),
            target,
            id,
            source: event.source,
            ...(event.binhost ? { binhost: event.binhost } : {}),
            time: Date.now(),
          });
          return;
      }
      return;
    }
    case 'publish':
      if (event.phase === 'start') story.begin(`Uploading container spec and image(s) to '${event.binhost}'`);
      else {
        story.end(true);
        report.event({ type: 'push', binhost: event.binhost, what: 'container' });
      }
      return;
    case 'image':
      if (event.phase === 'start') story.begin(`Packaging ${title} as ${event.format.toUpperCase()}...`);
      else {
        story.end(true);
        report.event({ type: 'image', format: event.format, path: event.path, digest: event.digest });
      }
      return;
    case 'warning':
      report.warn(event.message);
      return;
  }
}

function parseSandbox(value: string | undefined): SandboxMode {
  const mode = value ?? 'auto';
  if (mode === 'auto' || mode === 'on' || mode === 'off') return mode;
  throw new BuilditError('BUILDIT_USAGE_SANDBOX', `--sandbox ${mode}: expected auto, on or off`, {
    hint: 'e.g. --sandbox on',
  });
}

function parseJobs(value: string | undefined): number {
  if (value === undefined) return os.availableParallelism();
  const jobs = Number(value);
  if (Number.isInteger(jobs) && jobs >= 1) return jobs;
  throw new BuilditError('BUILDIT_USAGE_JOBS', `--jobs ${value}: expected a whole number >= 1`, {
    hint: 'e.g. -j2',
  });
}
