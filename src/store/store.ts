/** The local store: the embedded default binhost, a folder on this machine. */
import os from 'node:os';
import path from 'node:path';
import type { Target } from '../recipe/types.ts';
import { statIfExists } from '../util/fs.ts';
import { recordPath } from './layout.ts';

export interface StoreLocation {
  /** --store */
  explicit?: string;
  /** `store:` from the config, already absolute. */
  configured?: string;
  env: NodeJS.ProcessEnv;
}

/** --store, else $BUILDIT_HOME, else the config's store:, else $XDG_CACHE_HOME/buildit, else ~/.cache/buildit. */
export function storeDir(where: StoreLocation): string {
  if (where.explicit) return path.resolve(where.explicit);
  if (where.env['BUILDIT_HOME']) return path.resolve(where.env['BUILDIT_HOME']);
  if (where.configured) return where.configured;
  const cache = where.env['XDG_CACHE_HOME'] || path.join(where.env['HOME'] || os.homedir(), '.cache');
  return path.join(cache, 'buildit');
}

export class LocalStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  async hasRecord(target: Target, id: string): Promise<boolean> {
    return (await statIfExists(path.join(this.root, recordPath(target, id))))?.isFile() ?? false;
  }
}
