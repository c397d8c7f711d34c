/** The workspace as the command line names it: --config and --store relative to the working folder. */
import path from 'node:path';
import { openWorkspace, type Workspace } from '../workspace.ts';
import type { CliIO, CommonOptions } from './io.ts';

export function workspaceFor(from: string, options: CommonOptions, io: CliIO): Promise<Workspace> {
  return openWorkspace({
    from,
    env: io.env,
    ...(options.config ? { config: path.resolve(io.cwd, options.config) } : {}),
    ...(options.store ? { store: path.resolve(io.cwd, options.store) } : {}),
  });
}
