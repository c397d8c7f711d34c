/**
 * The local store: the embedded default binhost, a folder on this machine
 * with the binhost layout (SPEC §5) plus `tmp/`, `locks/` and `logs/`.
 * Every write is atomic; blobs are verified against their digest as written.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, readdir, rename, rm, utimes } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { BuilditError } from '../errors.ts';
import type { Target } from '../recipe/types.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { isNotFound, statIfExists } from '../util/fs.ts';
import { OWNER, OWNER_PATTERN, ownerGone } from '../util/owner.ts';
import { BINHOST_MARKER, BINHOST_SCHEMA, blobPath, recordPath } from './layout.ts';
import { recordSchema, type PackageRecord } from './record.ts';
import { acquireLock, type Lock } from './lock.ts';

export interface StoreLocation {
  /** --store */
  explicit?: string;
  /** `store:` from the config, already absolute. */
  configured?: string;
  env: NodeJS.ProcessEnv;
}

/** tmp/ entries: `<owner>-<what>-<random>` (captures: the owner's pid, then its host tag). */
export const TMP_NAME = new RegExp(`^${OWNER_PATTERN}-`);

/** --store, else $BUILDIT_HOME, else the config's store:, else $XDG_CACHE_HOME/buildit, else ~/.cache/buildit. */
export function storeDir(where: StoreLocation): string {
  if (where.explicit) return path.resolve(where.explicit);
  if (where.env['BUILDIT_HOME']) return path.resolve(where.env['BUILDIT_HOME']);
  if (where.configured) return where.configured;
  const cache = where.env['XDG_CACHE_HOME'] || path.join(where.env['HOME'] || os.homedir(), '.cache');
  return path.join(cache, 'buildit');
}

export interface BlobWritten {
  hex: string;
  size: number;
}

export class LocalStore {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** Create the layout's marker on first use; sweep scratch space left by killed runs. */
  async init(): Promise<void> {
    const marker = path.join(this.root, BINHOST_MARKER);
    if (!(await statIfExists(marker)))
      await writeFileAtomic(marker, `${JSON.stringify({ schema: BINHOST_SCHEMA })}\n`);
    await this.sweepTmp();
  }

  /** tmp/ entries are named `<pid>.<host tag>-…` (util/owner.ts): those of processes that are gone are removed. */
  private async sweepTmp(): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(path.join(this.root, 'tmp'));
    } catch (error) {
      if (isNotFound(error)) return;
      throw error;
    }
    for (const entry of entries) {
      const owner = TMP_NAME.exec(entry);
      if (owner && ownerGone(owner[1], owner[2])) {
        await rm(path.join(this.root, 'tmp', entry), { recursive: true, force: true });
      }
    }
  }

  recordFile(target: Target, id: string): string {
    return path.join(this.root, recordPath(target, id));
  }

  blobFile(hex: string): string {
    return path.join(this.root, blobPath(hex));
  }

  logFile(id: string): string {
    return path.join(this.root, 'logs', id.slice(0, 2), `${id}.log`);
  }

  async hasRecord(target: Target, id: string): Promise<boolean> {
    return (await statIfExists(this.recordFile(target, id)))?.isFile() ?? false;
  }

  /** The record, or undefined; a record that does not parse is treated as absent (and reported). */
  async readRecord(target: Target, id: string): Promise<PackageRecord | undefined> {
    const file = this.recordFile(target, id);
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
    let parsed: ReturnType<typeof recordSchema.safeParse>;
    try {
      parsed = recordSchema.safeParse(JSON.parse(text));
    } catch {
      parsed = { success: false } as ReturnType<typeof recordSchema.safeParse>;
    }
    if (!parsed.success || parsed.data.id !== id) return undefined;
    return parsed.data;
  }

  /** Records are written last: a record names blobs that are already complete. */
  async writeRecord(record: PackageRecord): Promise<void> {
    await writeFileAtomic(this.recordFile(record.target, record.id), `${JSON.stringify(record, null, 2)}\n`);
  }

  /**
   * Whether the blob is here. Asking means using: its mtime is refreshed,
   * which keeps a concurrent `buildit gc` from removing a blob a running
   * build found and is about to read (gc keeps what changed since the
   * oldest running build started; docs/gc.md).
   */
  async hasBlob(hex: string): Promise<boolean> {
    const file = this.blobFile(hex);
    const now = new Date();
    try {
      await utimes(file, now, now);
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      // A store we may read but not write: no gc of ours runs on it.
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'EACCES' && code !== 'EROFS') throw error;
      return (await statIfExists(file))?.isFile() ?? false;
    }
  }

  openBlob(hex: string): Readable {
    return createReadStream(this.blobFile(hex));
  }

  /**
   * Stream bytes into the store, hashing them on the way. With `expected`,
   * bytes that hash otherwise are refused and nothing is stored. A blob that
   * was already there is replaced by the rename, so its mtime is fresh too
   * (what gc's protection of running builds relies on).
   */
  async putBlob(source: Readable, expected?: { hex: string; what: string }): Promise<BlobWritten> {
    const hash = createHash('sha256');
    let size = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, done) {
        hash.update(chunk);
        size += chunk.length;
        done(null, chunk);
      },
    });
    // The final name is known only after hashing: stream into tmp/ (same
    // filesystem), check, then rename into place.
    const staging = path.join(await this.tmp(), `${OWNER}-blob-${randomBytes(6).toString('hex')}`);
    try {
      await pipeline(source, tap, createWriteStream(staging, { flags: 'wx', mode: 0o644 }));
      const hex = hash.digest('hex');
      if (expected && expected.hex !== hex) {
        throw new BuilditError(
          'BUILDIT_FETCH_SHA256',
          `${expected.what}: expected sha256 ${expected.hex}, got ${hex}`,
          {
            exitCode: 1,
            hint: 'the bytes are not what the recipe or lock pins: a tampered download, a changed upstream file, or a wrong sha256',
          },
        );
      }
      const final = this.blobFile(hex);
      await mkdir(path.dirname(final), { recursive: true });
      await rename(staging, final);
      return { hex, size };
    } finally {
      await rm(staging, { force: true });
    }
  }

  /**
   * Move a file whose sha256 the caller computed while writing it (in the
   * store's tmp/, so the rename is atomic) into place as a blob; like
   * putBlob, replacing one already there leaves a fresh mtime.
   */
  async adoptBlob(file: string, hex: string): Promise<void> {
    const final = this.blobFile(hex);
    await mkdir(path.dirname(final), { recursive: true });
    await rename(file, final);
  }

  /** Recompute a blob's sha256: the store verifies on read what it serves. */
  async verifyBlob(hex: string): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of this.openBlob(hex)) hash.update(chunk as Buffer);
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
    return hash.digest('hex') === hex;
  }

  /** A fresh scratch folder inside the store (same filesystem: renames work). */
  async tempDir(prefix: string): Promise<string> {
    return mkdtemp(path.join(await this.tmp(), `${OWNER}-${prefix}-`));
  }

  private async tmp(): Promise<string> {
    const tmp = path.join(this.root, 'tmp');
    await mkdir(tmp, { recursive: true });
    return tmp;
  }

  /** Serialize work on one identity across processes (two concurrent builds build once). */
  lock(id: string): Promise<Lock> {
    return acquireLock(path.join(this.root, 'locks', `${id}.lock`));
  }
}
