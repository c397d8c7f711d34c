/**
 * Resolve a container dir: vars rendered in order, packages resolved into the
 * graph, sync sources checked, image templates rendered and parsed. Every
 * problem in every file is collected; nothing is built or written here.
 */
import path from 'node:path';
import { BuilditError, BuilditErrors, type Problems, type SourceLocation } from '../errors.ts';
import { validateImageContent } from '../image/content-schema.ts';
import { loadContainer } from '../config/load.ts';
import type { ContainerSpec, Step } from '../config/types.ts';
import { GraphResolver } from '../recipe/graph.ts';
import type { RecipeRepositories } from '../recipe/repository.ts';
import type { PackageNode, Target } from '../recipe/types.ts';
import { renderTemplate, templateLine, type TemplateOrigin } from '../template/render.ts';
import { resolveInside, statIfExists } from '../util/fs.ts';
import { jsonErrorPosition } from '../util/json.ts';
import { readLock, type Lock } from './lock.ts';
import { checkTarget } from './target.ts';

export type ImageStep = Extract<Step, { kind: 'image' }>;
export type SyncStep = Extract<Step, { kind: 'sync' }>;

export interface ResolvedSync {
  step: SyncStep;
  /** Absolute path on this machine, inside the container dir. */
  src: string;
  isDir: boolean;
}

export interface ResolvedPackage {
  node: PackageNode;
  /** How container.yaml names it: './pkgs/nginx' or an atom. */
  label: string;
}

export type Layer = { kind: 'package'; pkg: ResolvedPackage } | { kind: 'sync'; sync: ResolvedSync };

export interface ResolvedImage {
  step: ImageStep;
  /** The vars in effect at this step. */
  vars: Record<string, string>;
  target: Target;
  /** The rendered manifest/config text and its parsed JSON. */
  rendered: string;
  content: unknown;
  /** What precedes the step, in order. */
  layers: Layer[];
}

export interface ResolvedContainer {
  dir: string;
  spec: ContainerSpec;
  /** The vars after the last vars step. */
  vars: Record<string, string>;
  /** "Sysadmin42/nginx-production-1.7.6-p1", as the seed prints it. */
  title: string;
  packages: ResolvedPackage[];
  images: ResolvedImage[];
  lock: Lock;
}

export interface ResolveOptions {
  dir: string;
  repositories: RecipeRepositories;
  /** --var overrides: they win over every vars step. */
  overrides: Readonly<Record<string, string>>;
  host: Target;
}

export async function resolveContainer(options: ResolveOptions): Promise<ResolvedContainer> {
  const dir = path.resolve(options.dir);
  const spec = await loadContainer(dir);
  const lock = await readLock(dir);
  const graph = new GraphResolver({ repositories: options.repositories, pinned: lock.distfiles });
  const problems = graph.problems;

  const vars: Record<string, string> = { os: options.host.os, arch: options.host.arch, ...options.overrides };
  const varLocations: Record<string, SourceLocation> = Object.fromEntries(
    Object.keys(options.overrides).map((name) => [name, { file: `(--var ${name})` }]),
  );
  const packages: ResolvedPackage[] = [];
  const images: ResolvedImage[] = [];
  let layers: Layer[] = [];

  for (const step of spec.steps) {
    switch (step.kind) {
      case 'vars':
        for (const [name, template] of Object.entries(step.vars)) {
          if (Object.hasOwn(options.overrides, name)) continue;
          varLocations[name] = step.locate([name]);
          const value = problems.capture(() =>
            renderTemplate(template, vars, 'text', { ...step.locate.text([name]), what: `vars.${name}` }),
          );
          if (value !== undefined) vars[name] = value;
        }
        break;
      case 'package': {
        const target = targetOf(vars, varLocations, spec.file, problems);
        if (!target) break;
        const node =
          step.type === 'embedded'
            ? await graph.embedded(step.path, dir, target, step.locate(['path']))
            : await graph.atom(step.atom, target, step.locate(['atom']), step.use);
        if (!node) break;
        const pkg = {
          node,
          label:
            step.type === 'embedded'
              ? step.path
              : `${step.atom.category}/${step.atom.name}-${step.atom.version}`,
        };
        packages.push(pkg);
        layers.push({ kind: 'package', pkg });
        break;
      }
      case 'sync': {
        const sync = await resolveSync(step, dir, problems);
        if (sync) layers.push({ kind: 'sync', sync });
        break;
      }
      case 'image': {
        const target = targetOf(vars, varLocations, spec.file, problems);
        const image = problems.capture(() => renderImage(step, vars));
        if (image && target) images.push({ step, vars: { ...vars }, target, ...image, layers });
        layers = [...layers];
        break;
      }
    }
  }
  if (problems.empty && images.length === 0) {
    problems.add(
      new BuilditError('BUILDIT_CONTAINER_NO_IMAGE', 'container.yaml has no image step', {
        location: { file: spec.file, line: 1, col: 1 },
        hint: 'add "- image: { type: oci, content: … }" after the packages and syncs it should hold',
      }),
    );
  }
  problems.throwIfAny();
  return { dir, spec, vars, title: titleOf(vars, dir), packages, images, lock };
}

function targetOf(
  vars: Record<string, string>,
  locations: Record<string, SourceLocation>,
  file: string,
  problems: Problems,
): Target | undefined {
  const os = vars['os']!;
  const arch = vars['arch']!;
  const errors = checkTarget(os, arch, {
    os: locations['os'] ?? { file },
    arch: locations['arch'] ?? { file },
  });
  // Report a bad target once, not at every step that uses it.
  const fresh = errors.filter(
    (e) => !problems.list.some((p) => p.code === e.code && p.message === e.message),
  );
  for (const error of fresh) problems.add(error);
  return errors.length ? undefined : { os, arch };
}

async function resolveSync(
  step: SyncStep,
  dir: string,
  problems: Problems,
): Promise<ResolvedSync | undefined> {
  const location = step.locate(['src']);
  if (path.isAbsolute(step.src)) {
    problems.add(
      new BuilditError('BUILDIT_PATH_ESCAPE', `sync src ${step.src} is absolute`, {
        location,
        hint: 'src is relative to the container dir and must stay inside it',
      }),
    );
    return undefined;
  }
  const where = await resolveInside(dir, dir, step.src);
  if (!where.inside) {
    problems.add(
      new BuilditError('BUILDIT_PATH_ESCAPE', `sync src ${step.src} leads outside the container dir`, {
        location,
        hint: `only files inside ${dir} can be synced into an image (symlinks are followed for this check)`,
      }),
    );
    return undefined;
  }
  const info = await statIfExists(where.path);
  if (!info) {
    problems.add(
      new BuilditError('BUILDIT_SYNC_MISSING', `sync src not found: ${step.src}`, {
        location,
        hint: `paths are relative to ${dir}`,
      }),
    );
    return undefined;
  }
  if (info.isDirectory() && !step.recursive) {
    problems.add(
      new BuilditError('BUILDIT_SYNC_RECURSIVE', `sync src ${step.src} is a folder`, {
        location,
        hint: 'add "recursive: true" to copy a folder',
      }),
    );
    return undefined;
  }
  return { step, src: where.path, isDir: info.isDirectory() };
}

function renderImage(step: ImageStep, vars: Record<string, string>): { rendered: string; content: unknown } {
  const origin = { ...step.locate.text(['content']), what: `${step.type} image content` };
  const rendered = renderTemplate(step.content, vars, 'json', origin);
  let content: unknown;
  try {
    content = JSON.parse(rendered);
  } catch (error) {
    const message = (error as Error).message;
    const renderedLine = jsonErrorPosition(rendered, message).line;
    const lines = rendered.split('\n');
    const sameShape = lines.length === step.content.split('\n').length;
    const lineInFile = (origin.location.line ?? 1) + renderedLine - 1;
    throw new BuilditError(
      'BUILDIT_TEMPLATE_JSON',
      `${origin.what} does not render to valid JSON: ${message}`,
      {
        location: sameShape ? { file: origin.location.file, line: lineInFile } : origin.location,
        hint: `rendered line ${renderedLine}: ${(lines[renderedLine - 1] ?? '').trim()}${
          sameShape
            ? `\n  template line ${lineInFile}: ${(step.content.split('\n')[renderedLine - 1] ?? '').trim()}`
            : ''
        }`,
      },
    );
  }
  const problems = validateImageContent(step.type, content);
  if (problems.length > 0) {
    throw new BuilditErrors(
      problems.map(
        (p) =>
          new BuilditError(
            'BUILDIT_IMAGE_SCHEMA',
            `${origin.what}: ${p.path ? `${p.path}: ` : ''}${p.message}`,
            {
              location: contentLine(step.content, p.path, origin),
              hint:
                step.type === 'aci'
                  ? 'the rendered content must be an appc ImageManifest (acKind, acVersion, name, labels, app, …)'
                  : 'the rendered content is the OCI image config\'s "config" object (Entrypoint, Cmd, Env, WorkingDir, Labels, …)',
            },
          ),
      ),
    );
  }
  return { rendered, content };
}

/** The template line that writes the failing field, when a line names its key; else the template's start. */
function contentLine(template: string, fieldPath: string, origin: TemplateOrigin): SourceLocation {
  const key = /([A-Za-z_][\w.-]*)(?:\[\d+\])*$/
    .exec(fieldPath.replace(/\["([^"]+)"\]/g, '.$1'))?.[1]
    ?.split('.')
    .pop();
  const index = key ? template.split('\n').findIndex((line) => line.includes(`"${key}"`)) : -1;
  return index >= 0 ? templateLine(origin, index + 1) : origin.location;
}

function titleOf(vars: Record<string, string>, dir: string): string {
  const name = vars['name'] ?? path.basename(dir);
  const full = vars['version'] ? `${name}-${vars['version']}` : name;
  return vars['author'] ? `${vars['author']}/${full}` : full;
}
