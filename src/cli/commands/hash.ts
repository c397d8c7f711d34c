/** `buildit hash <pkg-dir|atom>`: one package's identity, and with --explain its pre-image. */
import path from 'node:path';
import { hostTarget } from '../../build/toolchain.ts';
import { readLock } from '../../container/lock.ts';
import { checkTarget } from '../../container/target.ts';
import { BuilditError, BuilditErrors } from '../../errors.ts';
import { computeIdentities } from '../../identity/identity.ts';
import { tryParseAtom } from '../../recipe/atom.ts';
import { GraphResolver } from '../../recipe/graph.ts';
import type { Target } from '../../recipe/types.ts';
import { statIfExists } from '../../util/fs.ts';
import { workspaceFor } from '../workspace.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';

export interface HashOptions extends CommonOptions {
  explain?: boolean;
  target?: string;
}

export async function hashCommand(
  what: string,
  options: HashOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  const target = parseTarget(options.target);
  const asPath = path.resolve(io.cwd, what);
  const info = await statIfExists(asPath);
  const pkgDir = info?.isDirectory()
    ? asPath
    : info?.isFile() && path.basename(asPath) === 'pkg.yaml'
      ? path.dirname(asPath)
      : undefined;
  const parsed = pkgDir ? undefined : tryParseAtom(what);
  if (!pkgDir && !parsed?.ok) {
    // Something that looks like a path is said as one: an atom's parse error would only confuse.
    const pathLike = /^[./~]/.test(what) || info !== undefined;
    const why = pathLike
      ? info
        ? `${asPath} is a file, not a package folder`
        : `${asPath} does not exist`
      : parsed && !parsed.ok
        ? parsed.reason
        : undefined;
    throw new BuilditError('BUILDIT_USAGE_PACKAGE', `${what} is neither a package folder nor an atom`, {
      hint: `${why ? `${why}; ` : ''}give a folder holding pkg.yaml, or an atom like app-misc/hello-1.0`,
    });
  }
  // A package folder belongs to the nearest container dir above it: its files may not leave it, its lock pins remote patches.
  const root = pkgDir ? ((await containerDirAbove(pkgDir)) ?? pkgDir) : io.cwd;
  const workspace = await workspaceFor(pkgDir ?? io.cwd, options, io);
  const lock = pkgDir ? await readLock(root) : { distfiles: new Map<string, string>() };
  const graph = new GraphResolver({ repositories: workspace.repositories, pinned: lock.distfiles });
  const from = { file: '(command line)' };
  const node = pkgDir
    ? await graph.embedded(pkgDir, root, target, from)
    : parsed?.ok
      ? await graph.atom(parsed.atom, target, from)
      : undefined;
  graph.problems.throwIfAny();
  const identity = computeIdentities([node!], await workspace.toolchain()).get(node!)!;
  if (!identity.known) {
    throw new BuilditError(
      'BUILDIT_IDENTITY_PENDING',
      `the identity needs the sha256 of ${identity.pending.join(', ')}`,
      {
        location: { file: node!.origin.file },
        hint: 'write the patch in list form with sha256:, or build once so that container.lock pins it',
      },
    );
  }
  if (options.json) {
    // SPEC §3: `buildit hash --json` prints {"id","preimage"}.
    io.stdout.write(`${JSON.stringify({ id: identity.id, preimage: identity.preimage })}\n`);
    return 0;
  }
  if (options.explain) {
    report.answer(JSON.stringify(identity.preimage, null, 2));
    report.line('identity = sha256 of the RFC 8785 canonical JSON of the pre-image above:');
  }
  report.answer(identity.id);
  return 0;
}

function parseTarget(text: string | undefined): Target {
  if (!text) return hostTarget();
  const [os, arch, extra] = text.split('/');
  const where = { file: '(--target)' };
  if (!os || !arch || extra !== undefined) {
    throw new BuilditError('BUILDIT_USAGE_TARGET', `--target ${text}: expected os/arch`, {
      hint: 'e.g. --target linux/arm64',
    });
  }
  const errors = checkTarget(os, arch, { os: where, arch: where });
  if (errors.length) throw new BuilditErrors(errors);
  return { os, arch };
}

async function containerDirAbove(dir: string): Promise<string | undefined> {
  for (let d = path.dirname(dir); ; d = path.dirname(d)) {
    if ((await statIfExists(path.join(d, 'container.yaml')))?.isFile()) return d;
    if (path.dirname(d) === d) return undefined;
  }
}
