/**
 * The second step of `buildit gc`: from the store's inventory (gc-scan.ts)
 * and a policy, what goes and in which order (docs/gc.md tells how it
 * decides). Pure: the clock reaches it only through the policy's times, and
 * gc.ts does the removing, or with --dry-run only reports the plan.
 */
import type { StoreInventory } from './gc-scan.ts';
import type { StoredFile } from './roots.ts';

export type GcKind = 'root' | 'record' | 'log' | 'blob' | 'marker' | 'tmp' | 'lock' | 'memo';

export interface Removal extends StoredFile {
  kind: GcKind;
  /** The identity of a record, log or lock. */
  id?: string;
  /** `name-version` of a record's package or a root's container. */
  name?: string;
  /** A root's container dir. */
  container?: string;
  /** A record's artifact (sha256 hex): kept after all when the record turns out to be in use. */
  artifact?: string;
}

export interface GcPolicy {
  /** Roots last used at or before this time (ms since the epoch) have expired. */
  cutoff: number;
  /** What changed at or after this time is kept: a running build may be writing it. */
  since: number;
}

export interface GcPlan {
  /** In the order they must go. */
  remove: Removal[];
  kept: { roots: number; records: number; blobs: number };
  /** Builds running now. */
  running: number;
}

export function planGc(inventory: StoreInventory, policy: GcPolicy): GcPlan {
  const fresh = (file: StoredFile) => file.mtimeMs >= policy.since;
  const roots = new Set(
    inventory.roots.filter((r) => (r.root && r.root.lastUsed > policy.cutoff) || fresh(r)),
  );
  const running = inventory.active.filter((a) => a.live);
  const uses = [...[...roots].flatMap((r) => r.root ?? []), ...running.flatMap((a) => a.use ?? [])];
  const packages = new Set(
    uses.flatMap((u) => u.packages.map((p) => `${p.target.os}-${p.target.arch}/${p.id}`)),
  );
  // An identity lock names no target: it protects the identity on every target.
  const locked = new Set(inventory.locks.flatMap((l) => (l.state === 'held' && l.id ? [l.id] : [])));

  const records = new Set(
    inventory.records.filter((r) => packages.has(r.key) || locked.has(r.id) || fresh(r)),
  );
  const used = new Set([
    ...[...records].flatMap((r) => r.artifact ?? []),
    ...uses.flatMap((u) => u.distfiles),
    ...uses.flatMap((u) => u.blobs ?? []),
  ]);
  const blobs = new Set(inventory.blobs.filter((b) => used.has(b.hex) || fresh(b)));
  const ids = new Set([
    ...[...records].map((r) => r.id),
    ...[...packages].map((key) => key.slice(-64)),
    ...locked,
  ]);
  const recorded = new Set(inventory.records.map((r) => r.id));
  // A log goes with its record; a failed build's log (it has no record) once it is as old as an expired root.
  const logGoes = (l: StoreInventory['logs'][number]) =>
    !ids.has(l.id) && !fresh(l) && (recorded.has(l.id) || l.mtimeMs <= policy.cutoff);

  const remove: Removal[] = [
    ...inventory.roots
      .filter((r) => !roots.has(r))
      .map((r) =>
        removal(
          'root',
          r,
          r.root ? { name: `${r.root.name}-${r.root.version}`, container: r.root.container } : {},
        ),
      ),
    ...inventory.active.filter((a) => !a.live).map((a) => removal('marker', a)),
    ...inventory.records
      .filter((r) => !records.has(r))
      .map((r) =>
        removal('record', r, {
          id: r.id,
          ...(r.name ? { name: r.name } : {}),
          ...(r.artifact ? { artifact: r.artifact } : {}),
        }),
      ),
    ...inventory.logs.filter(logGoes).map((l) => removal('log', l, { id: l.id })),
    ...inventory.blobs.filter((b) => !blobs.has(b)).map((b) => removal('blob', b, { id: b.hex })),
    ...inventory.scratch.filter((s) => !s.live).map((s) => removal('tmp', s)),
    ...inventory.orphanMemos.map((m) => removal('memo', m)),
    ...inventory.locks
      .filter((l) => l.state === 'stale')
      .map((l) => removal('lock', l, l.id ? { id: l.id } : {})),
  ];
  return {
    remove,
    kept: { roots: roots.size, records: records.size, blobs: blobs.size },
    running: running.length,
  };
}

function removal(kind: GcKind, file: StoredFile, extra: Partial<Removal> = {}): Removal {
  return { kind, path: file.path, bytes: file.bytes, mtimeMs: file.mtimeMs, ...extra };
}
