/**
 * What the store remembers about the containers it served (the roots
 * `buildit gc` keeps), and which builds are running now (what gc must never
 * remove). docs/gc.md tells the whole story.
 *
 *   roots/<sha256 of the container dir>/<sha256 of the package set>.json
 *     One per set of packages a container dir was built with: a generation,
 *     like a Nix profile's. Rebuilding the same set refreshes its lastUsed; a
 *     changed flag starts a new one, and the old one stays until it is older
 *     than --keep-days, so going back within that window costs no rebuild.
 *   active/<pid>-<random>.json
 *     One per running build, written before it uses anything gc could
 *     remove, removed when it ends (killed builds leave one: gc removes
 *     those whose process is gone).
 *
 * Builds hold no lock gc must wait for. Instead a build writes its marker
 * first and then waits while a live gc holds locks/gc.lock; gc takes gc.lock
 * first and then reads the markers. Either gc sees the marker, or the build
 * waits until gc is done.
 */
import { randomBytes } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { canonicalJson, sha256Hex } from '../identity/canonical.ts';
import type { Target } from '../recipe/types.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { isNotFound, readdirIfExists } from '../util/fs.ts';
import { isAlive } from '../util/process.ts';
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
  /** sha256 hex of other store blobs its images are made of: base image layers. */
  blobs?: string[];
}

export interface UseHandle {
  /**
   * The packages and distfiles the build will use, once they are known. The marker keeps the
   * time it was first written: gc keeps whatever changed since then, so what the build wrote
   * before saying what it uses (remote patches pinned while resolving, say) is safe too.
   */
  update(uses: Partial<Pick<ContainerUse, 'packages' | 'distfiles' | 'blobs'>>): Promise<void>;
  /** The build is over: remember the container as a root when it succeeded. */
  finish(ok: boolean): Promise<void>;
}

export interface UseOptions {
  /** Stops waiting for a running gc (Ctrl-C); the marker is removed. */
  signal?: AbortSignal;
  /** Told once when the build has to wait for a running gc (to say so). */
  onWait?: () => void;
}

export const ROOT_SCHEMA = 'buildit-root/v1';
export const ACTIVE_SCHEMA = 'buildit-active/v1';

/** Taken by gc for its whole run; builds starting meanwhile wait for it. */
export function gcLockFile(store: LocalStore): string {
  return path.join(store.root, 'locks', 'gc.lock');
}

export async function beginUse(
  store: LocalStore,
  use: ContainerUse,
  options: UseOptions = {},
): Promise<UseHandle> {
  let normal = normalize(use);
  const marker = path.join(store.root, 'active', `${process.pid}-${randomBytes(6).toString('hex')}.json`);
  const started = new Date();
  const write = (mtime?: Date) => {
    const active = {
      schema: ACTIVE_SCHEMA,
      pid: process.pid,
      host: os.hostname(),
      started: started.toISOString(),
      ...normal,
    };
    return writeFileAtomic(marker, `${JSON.stringify(active, null, 2)}\n`, mtime ? { mtime } : {});
  };
  await write();
  // The filesystem's clock, as gc reads it (not ours): what every later rewrite keeps, a
  // millisecond early (utimes rounds), never late: earlier protects more.
  const mtime = new Date(Math.floor((await stat(marker)).mtimeMs) - 1);
  try {
    await waitWhileGcRuns(store, options);
  } catch (error) {
    await rm(marker, { force: true });
    throw error;
  }
  return {
    async update(uses) {
      normal = normalize({ ...normal, ...uses });
      await write(mtime);
    },
    async finish(ok) {
      // The root is written before the marker goes: at no moment does neither protect the packages.
      try {
        if (ok) await writeRoot(store, normal);
      } finally {
        await rm(marker, { force: true });
      }
    },
  };
}

async function waitWhileGcRuns(store: LocalStore, options: UseOptions): Promise<void> {
  for (let delay = 25; (await lockState(gcLockFile(store))) === 'held'; delay = Math.min(delay * 2, 500)) {
    if (delay === 25) options.onWait?.();
    await sleep(delay, undefined, options.signal ? { signal: options.signal } : {});
  }
}

/** Sorted and deduplicated, so one package set always names one root file. */
function normalize(use: ContainerUse): ContainerUse {
  const packages = new Map(use.packages.map((p) => [`${p.target.os}-${p.target.arch}/${p.id}`, p]));
  return {
    container: use.container,
    name: use.name,
    version: use.version,
    packages: [...packages.keys()].sort().map((key) => {
      const { target, id } = packages.get(key)!;
      return { target: { os: target.os, arch: target.arch }, id };
    }),
    distfiles: sortedHex(use.distfiles),
    ...(use.blobs?.length ? { blobs: sortedHex(use.blobs) } : {}),
  };
}

function sortedHex(hexes: readonly string[]): string[] {
  return [...new Set(hexes.map((hex) => hex.toLowerCase()))].sort();
}

async function writeRoot(store: LocalStore, use: ContainerUse): Promise<void> {
  // A container without base images names the generation as the first version did.
  const generation = sha256Hex(
    canonicalJson({
      packages: use.packages,
      distfiles: use.distfiles,
      ...(use.blobs ? { blobs: use.blobs } : {}),
    }),
  );
  const file = path.join(store.root, 'roots', sha256Hex(use.container), `${generation}.json`);
  const root = { schema: ROOT_SCHEMA, ...use, lastUsed: new Date().toISOString() };
  for (let attempt = 1; ; attempt++) {
    try {
      await writeFileAtomic(file, `${JSON.stringify(root, null, 2)}\n`);
      return;
    } catch (error) {
      // gc removes a container's folder once its last root expired; it may do so between our mkdir and write.
      if (!isNotFound(error) || attempt === 3) throw error;
    }
  }
}

const hex64 = z
  .string()
  .regex(/^[0-9a-fA-F]{64}$/)
  .transform((hex) => hex.toLowerCase());
const useShape = {
  container: z.string(),
  name: z.string(),
  version: z.string(),
  packages: z.array(z.object({ target: z.object({ os: z.string(), arch: z.string() }), id: hex64 })),
  distfiles: z.array(hex64),
  blobs: z.array(hex64).optional(),
};
const rootSchema = z.object({ schema: z.literal(ROOT_SCHEMA), lastUsed: z.string(), ...useShape });
const activeSchema = z.object({
  schema: z.literal(ACTIVE_SCHEMA),
  pid: z.number().int(),
  host: z.string(),
  started: z.string(),
  ...useShape,
});

export interface StoredFile {
  /** Absolute. */
  path: string;
  bytes: number;
  mtimeMs: number;
}

export interface Root extends ContainerUse {
  /** Milliseconds since the epoch. */
  lastUsed: number;
}

/** Every root file; `root` is undefined for one that does not parse (it protects nothing). */
export async function readRoots(store: LocalStore): Promise<(StoredFile & { root?: Root })[]> {
  const dir = path.join(store.root, 'roots');
  const files: string[] = [];
  for (const entry of await readdirIfExists(dir)) {
    if (entry.startsWith('.')) continue;
    // The first version wrote roots/<sha256 of the container dir>.json: still read.
    if (entry.endsWith('.json')) files.push(path.join(dir, entry));
    else
      for (const name of await readdirIfExists(path.join(dir, entry)))
        if (!name.startsWith('.') && name.endsWith('.json')) files.push(path.join(dir, entry, name));
  }
  const roots = [];
  for (const file of files) {
    const read = await readJson(file);
    if (!read) continue;
    const parsed = rootSchema.safeParse(read.value);
    const lastUsed = parsed.success ? Date.parse(parsed.data.lastUsed) : NaN;
    roots.push({
      ...read.file,
      ...(parsed.success && !Number.isNaN(lastUsed) ? { root: { ...parsed.data, lastUsed } } : {}),
    });
  }
  return roots;
}

export interface ActiveBuild extends StoredFile {
  pid: number;
  /** False only when its process is known to be gone (on this host). */
  live: boolean;
  /** undefined when the marker does not parse: it then protects only by its time. */
  use?: ContainerUse;
}

/** The markers of builds running now, and of killed ones. */
export async function readActive(store: LocalStore): Promise<ActiveBuild[]> {
  const dir = path.join(store.root, 'active');
  const builds: ActiveBuild[] = [];
  for (const entry of await readdirIfExists(dir)) {
    const pid = Number(/^(\d+)-[0-9a-f]+\.json$/.exec(entry)?.[1]);
    if (!Number.isInteger(pid)) continue;
    const read = await readJson(path.join(dir, entry));
    if (!read) continue;
    const parsed = activeSchema.safeParse(read.value);
    const host = parsed.success ? parsed.data.host : os.hostname();
    builds.push({
      ...read.file,
      pid,
      live: processLive(host, pid),
      ...(parsed.success ? { use: parsed.data } : {}),
    });
  }
  return builds;
}

/**
 * Whether a lock file (holding "host pid", see lock.ts) is held: absent
 * (`free`), by a running process or one we cannot check (`held`), or by a
 * process that is gone (`stale`).
 */
export async function lockState(file: string): Promise<'free' | 'held' | 'stale'> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, { mtimeMs }] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
  } catch (error) {
    if (isNotFound(error)) return 'free';
    throw error;
  }
  // Empty: a holder between create and write, or one that died there (lock.ts waits 5 s too).
  if (text.trim() === '') return Date.now() - mtimeMs > 5000 ? 'stale' : 'held';
  const [host, pidText] = text.trim().split(' ');
  const pid = Number(pidText);
  if (!host || !Number.isInteger(pid)) return 'held';
  return processLive(host, pid) ? 'held' : 'stale';
}

/** A process on another host cannot be checked: it counts as running. */
export function processLive(host: string, pid: number): boolean {
  return host !== os.hostname() || pid === process.pid || isAlive(pid);
}

/** The file's JSON (undefined value when it does not parse) and stat; undefined when it is gone. */
async function readJson(file: string): Promise<{ file: StoredFile; value: unknown } | undefined> {
  let text: string;
  let info: { size: number; mtimeMs: number };
  try {
    [text, info] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    value = undefined;
  }
  return { file: { path: file, bytes: info.size, mtimeMs: info.mtimeMs }, value };
}
