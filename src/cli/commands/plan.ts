/** `buildit plan <dir>`: what would come from the store and what would be built. */
import path from 'node:path';
import { hostTarget } from '../../build/toolchain.ts';
import { analyzeContainer } from '../../plan/analyze.ts';
import { formatAtom } from '../../recipe/atom.ts';
import { workspaceFor } from '../workspace.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';
import { parseVars } from '../vars.ts';

export interface PlanOptions extends CommonOptions {
  var?: string[];
}

export async function planCommand(
  dir: string,
  options: PlanOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  const containerDir = path.resolve(io.cwd, dir);
  const workspace = await workspaceFor(containerDir, options, io);
  const analysis = await analyzeContainer(workspace, {
    dir: containerDir,
    overrides: parseVars(options.var ?? []),
    host: hostTarget(),
  });
  const { plan, labels, container } = analysis;

  report.line(`Plan for ${container.title}`);
  const width = Math.max(...plan.map((e) => formatAtom(e.node.atom).length));
  for (const entry of plan) {
    const { node, identity, source } = entry;
    const atom = formatAtom(node.atom);
    const label = labels.get(node) ?? 'dependency';
    const target = `${node.target.os}/${node.target.arch}`;
    report.event({
      type: 'package',
      name: node.atom.name,
      version: node.atom.version,
      atom,
      target,
      id: identity.known ? identity.id : null,
      source,
      ...(identity.known ? {} : { pending: identity.pending }),
    });
    const id = identity.known
      ? identity.id
      : `(identity pending: sha256 of ${identity.pending.join(', ')} is learned on the first build)`;
    report.line(`  ${source.padEnd(5)}  ${atom.padEnd(width)}  ${target}  ${id}  ${label}`);
  }
  const toBuild = plan.filter((e) => e.source === 'build').length;
  report.line(
    `${plan.length} package${plan.length === 1 ? '' : 's'}: ${plan.length - toBuild} from the store, ${toBuild} to build.`,
  );
  report.event({
    type: 'result',
    ok: true,
    packages: plan.length,
    store: plan.length - toBuild,
    build: toBuild,
  });
  return 0;
}
