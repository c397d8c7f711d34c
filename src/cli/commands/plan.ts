/** `buildit plan <dir>`: what would come from the store and what would be built. */
import path from 'node:path';
import { hostTarget } from '../../build/toolchain.ts';
import { BinhostLookup } from '../../binhost/lookup.ts';
import { openBinhosts } from '../../binhost/setup.ts';
import { analyzeContainer, type Analysis } from '../../plan/analyze.ts';
import { formatAtom } from '../../recipe/atom.ts';
import { workspaceFor } from '../workspace.ts';
import type { CliIO, CommonOptions } from '../io.ts';
import type { Reporter } from '../report.ts';
import { parseVars } from '../vars.ts';

export interface PlanOptions extends CommonOptions {
  var?: string[];
  discover?: string[];
  offline?: boolean;
}

export async function planCommand(
  dir: string,
  options: PlanOptions,
  io: CliIO,
  report: Reporter,
): Promise<number> {
  const containerDir = path.resolve(io.cwd, dir);
  const workspace = await workspaceFor(containerDir, options, io);
  const binhosts = await openBinhosts(workspace.config, {
    discover: options.discover ?? [],
    push: false,
    offline: options.offline ?? false,
    cwd: io.cwd,
    env: io.env,
  });
  let analysis: Analysis;
  try {
    const lookup = new BinhostLookup(binhosts.lookup, { warn: (m) => report.warn(m) });
    analysis = await analyzeContainer(workspace, {
      dir: containerDir,
      overrides: parseVars(options.var ?? []),
      host: hostTarget(),
      lookup,
    });
  } finally {
    await binhosts.close();
  }
  const { plan, labels, container } = analysis;

  report.line(`Plan for ${container.title}`);
  const width = Math.max(...plan.map((e) => formatAtom(e.node.atom).length));
  for (const entry of plan) {
    const { node, identity, source } = entry;
    const atom = formatAtom(node.atom);
    const label = labels.get(node) ?? 'dependency';
    const target = `${node.target.os}/${node.target.arch}`;
    report.packageEvent(node, identity.known ? identity.id : null, source, {
      ...(entry.binhost ? { binhost: entry.binhost } : {}),
      ...(identity.known ? {} : { pending: identity.pending }),
    });
    const id = identity.known
      ? identity.id
      : `(identity pending: sha256 of ${identity.pending.join(', ')} is learned on the first build)`;
    const where = entry.binhost ? `binhost '${entry.binhost}'` : source;
    report.line(`  ${where.padEnd(7)}  ${atom.padEnd(width)}  ${target}  ${id}  ${label}`);
  }
  const count = (source: string) => plan.filter((e) => e.source === source).length;
  report.line(
    `${plan.length} package${plan.length === 1 ? '' : 's'}: ${count('store')} from the store, ${count('binhost')} from binhosts, ${count('build')} to build.`,
  );
  report.event({
    type: 'result',
    ok: true,
    packages: plan.length,
    store: count('store'),
    binhost: count('binhost'),
    build: count('build'),
  });
  return 0;
}
