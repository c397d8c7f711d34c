/**
 * What the store remembers about the containers it served (the roots `buildit gc`
 * keeps), and which builds are running now (what gc must never remove).
 * Minimal first version; the gc work completes it behind the same signature.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { Target } from '../recipe/types.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import type { LocalStore } from './store.ts';

export interface ContainerUse {
  /** Absolute container dir. */
  container: string;
  name: string;
  version: string;
  /** Every package of the container's graph (build dependencies included). */
  packages: { target: Target; id: string }[];
  /** sha256 hex of the distfiles (url sources, remote patches) its packages need. */
  distfiles: string[];
}

export interface UseHandle {
  /** The build is over: remember the container as a root when it succeeded. */
  finish(ok: boolean): Promise<void>;
}

export async function beginUse(store: LocalStore, use: ContainerUse): Promise<UseHandle> {
  const key = createHash('sha256').update(use.container).digest('hex');
  return {
    async finish(ok) {
      if (!ok) return;
      const root = { schema: 'buildit-root/v1', ...use, lastUsed: new Date().toISOString() };
      await writeFileAtomic(
        path.join(store.root, 'roots', `${key}.json`),
        `${JSON.stringify(root, null, 2)}\n`,
      );
    },
  };
}
